/** Prints the README's configuration table from the settings schema (paste it between the settings markers). */
import { settingsTable } from '../src/lib/settings.js';

process.stdout.write(`${settingsTable()}\n`);
