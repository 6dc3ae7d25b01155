/** The demo app as a library: what tests, the lab and the benchmark use besides its CLI (main.ts). */
export {
  ECHO_CALL_PATH,
  ECHO_SERVICE,
  ECHO_SERVICE_NAME,
  EchoRequest,
  EchoResponse,
  call,
  echoClient,
  registerXds,
  startEchoServer,
  type CallOptions,
  type CallResult,
  type EchoServer,
  type EchoServerOptions,
} from './echo.js';
export { runLoad, type LoadCounts, type LoadOptions, type LoadWindow } from './load.js';
