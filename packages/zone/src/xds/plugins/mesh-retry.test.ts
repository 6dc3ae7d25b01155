import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRPC_RETRY_ON_DEFAULT, grpcRetryPolicy, HTTP_RETRY_ON_DEFAULT, httpRetryPolicy, splitHttpRetryOn } from './mesh-retry.js';

describe('MeshRetry retryOn', () => {
  it('splits HTTP conditions as Kuma: status codes, methods as :method, the rest by Envoy name', () => {
    assert.deepEqual(splitHttpRetryOn(['5xx', 'GatewayError', '503', 'HttpMethodGet', 'Retriable4xx', 'HttpMethodOptions', '429', 'Http3PostConnectFailure']), {
      retryOn: ['5xx', 'gateway-error', 'retriable-4xx', 'http3-post-connect-failure'],
      statusCodes: [503, 429],
      methods: ['GET', 'OPTIONS'],
    });
  });

  it('keeps Kuma\'s default conditions when only codes or methods are listed, and adds retriable-status-codes once', () => {
    const p = httpRetryPolicy({ retryOn: ['503', 'HttpMethodPut'] }, []);
    assert.equal(p?.['retry_on'], `${HTTP_RETRY_ON_DEFAULT},retriable-status-codes`);
    assert.deepEqual(p?.['retriable_status_codes'], [503]);
    assert.deepEqual(p?.['retriable_request_headers'], [{ name: ':method', string_match: { exact: 'PUT' } }]);
  });

  it('turns on retriable-headers when response headers are given, or Envoy would never consult them', () => {
    const p = httpRetryPolicy({ retryOn: ['Reset'], retriableResponseHeaders: [{ name: 'x-retry', type: 'Present' }] }, []);
    assert.equal(p?.['retry_on'], 'reset,retriable-headers');
    assert.deepEqual(p?.['retriable_headers'], [{ name: 'x-retry', present_match: true }]);
  });

  it('uses Envoy\'s gRPC names (cancelled, not Kuma\'s canceled, which Envoy ignores)', () => {
    assert.equal(grpcRetryPolicy({ retryOn: ['Canceled', 'DeadlineExceeded', 'ResourceExhausted'] }, [])?.['retry_on'], 'cancelled,deadline-exceeded,resource-exhausted');
    assert.equal(grpcRetryPolicy({ numRetries: 1 }, [])?.['retry_on'], GRPC_RETRY_ON_DEFAULT);
  });
});

describe('MeshRetry policy', () => {
  it('configures no retry policy for numRetries 0, whatever else is set', () => {
    assert.equal(httpRetryPolicy({ numRetries: 0, retryOn: ['5xx'] }, []), undefined);
    assert.equal(grpcRetryPolicy({ numRetries: 0, perTryTimeout: '1s' }, []), undefined);
  });

  it('always gives the back-off the base interval Envoy requires, never above the maximum', () => {
    assert.deepEqual(httpRetryPolicy({ backOff: { maxInterval: '1s' } }, [])?.['retry_back_off'], { base_interval: { seconds: 0, nanos: 25_000_000 }, max_interval: { seconds: 1 } });
    assert.deepEqual(httpRetryPolicy({ backOff: { maxInterval: '10ms' } }, [])?.['retry_back_off'], { base_interval: { seconds: 0, nanos: 10_000_000 }, max_interval: { seconds: 0, nanos: 10_000_000 } });
    const problems: string[] = [];
    assert.deepEqual(httpRetryPolicy({ backOff: { baseInterval: '2s', maxInterval: '1s' } }, problems)?.['retry_back_off'], { base_interval: { seconds: 2 } });
    assert.equal(problems.length, 1);
  });

  it('matches request headers as Kuma: Absent as present_match false, the others by value', () => {
    const p = httpRetryPolicy({ retriableRequestHeaders: [{ name: 'x-a', type: 'Absent' }, { name: 'x-b', type: 'Prefix', value: 'v' }, { name: 'x-c', value: 'w' }] }, []);
    assert.deepEqual(p?.['retriable_request_headers'], [
      { name: 'x-a', present_match: false },
      { name: 'x-b', string_match: { prefix: 'v' } },
      { name: 'x-c', string_match: { exact: 'w' } },
    ]);
  });
});
