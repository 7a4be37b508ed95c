/** A pretend sensor for the IoT example: temperature and humidity drifting in a random walk. */
export interface Thermometer {
  name: string;
  /** "thermometer-1: 21.4 °C, 45 % RH at 2025-01-01T12:00:00.000Z" */
  read(): string;
}

export function simulatedThermometer(name: string, random: () => number = Math.random): Thermometer {
  let celsius = 21;
  let humidity = 45;
  const drift = (value: number, step: number, min: number, max: number): number => Math.min(max, Math.max(min, value + (random() - 0.5) * step));
  return {
    name,
    read() {
      celsius = drift(celsius, 0.6, -20, 50);
      humidity = drift(humidity, 2, 5, 95);
      return `${name}: ${celsius.toFixed(1)} °C, ${humidity.toFixed(0)} % RH at ${new Date().toISOString()}`;
    },
  };
}
