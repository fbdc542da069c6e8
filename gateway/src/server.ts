import { runService } from '@taskmesh/service-kit';
import { buildApp } from './app.js';
import { ConfigSchema } from './config.js';

void runService({ name: 'gateway', config: ConfigSchema, build: (config) => buildApp(config) });
