/** `import … from 'ratchetd/bots'`: the bot SDK (`connect`, `Bot`, commands, the bot CLI helpers). */
export * from '../bots/sdk/index.ts';
