/** ratchetd command line entry point (the only file that reads argv and exits). */
const HELP = `ratchetd — headless end-to-end encrypted messaging daemon

Usage:
  ratchetd broker --port N --data DIR       run the blind MQTT relay
  ratchetd daemon --data DIR --broker URL --socket PATH
  ratchetd ctl --socket PATH <whoami|send USER TEXT|receive [--follow]|contacts|verify USER NUMBER|status>
`;
process.stdout.write(HELP);
