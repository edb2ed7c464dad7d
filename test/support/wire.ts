// The wire helpers live with the simulator (the chaos scenarios and the bench use them too).
export { readingMessage, requestMessage } from '../../services/sim/wire.ts';
