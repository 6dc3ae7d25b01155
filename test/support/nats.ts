/** The NATS server (with JetStream) the suites use; each test picks subjects of its own. */
export const TEST_NATS_URL = process.env.MESHFED_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';
