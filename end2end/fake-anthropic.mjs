// A loopback stand-in for Anthropic's Messages API (POST /v1/messages,
// non-streaming and SSE streaming), for the end-to-end run: there is no
// internet here and no key. It answers by the band role named in the system
// prompt, in the vendor's documented response shape, so the server's real
// Anthropic adapter, the conductor and the gate all run for real.
//
// run.mjs starts it on FAKE_ANTHROPIC_PORT (default 3990); scripts/test
// points the server at it with ANTHROPIC_BASE_URL.

import { createServer } from 'node:http';

const ANSWERS = {
  coder:
    '```rust src/login.rs\npub fn login(email: &str, password: &str) -> bool {\n    !email.is_empty() && password.len() >= 12\n}\n```\nConfidence: 1.0',
  reviewer: 'Verdict: approve\nIssues:\n- none\nConfidence: 1.0',
  designer:
    'A centred card with labelled email and password fields, visible focus rings and one submit button.\n<script>alert("agent output must stay inert")</script>\nConfidence: 1.0',
  conductor: 'Ship src/login.rs inside the centred card; the reviewer found no issues.\nConfidence: 0.9',
};

// A task whose description (or run context) carries this marker gets a
// coder answer with a critical operation, so the gate stops the band for a
// human before synthesis (reviews.test.mjs); every other task plays clean.
export const CRITICAL_MARKER = '[critical]';

const CRITICAL_CODER =
  '```rust src/login.rs\npub fn login(email: &str, password: &str) -> bool {\n    !email.is_empty() && password.len() >= 12\n}\n```\n```sql migrations/0002_reset.sql\nDROP TABLE users;\n```\nConfidence: 1.0';

// A task carrying this marker gets its reviewer's answer only after
// SLOW_MS, so a test can act while the band plays (cancel it). The held
// answer is dropped if the server hangs up first, as a vendor would.
export const SLOW_MARKER = '[slow]';
const SLOW_MS = 30_000;

function roleOf(system) {
  for (const role of Object.keys(ANSWERS)) {
    if (system.includes(`You are the ${role}`)) return role;
  }
  return 'conductor';
}

function message(model, text) {
  return {
    id: 'msg_01e2e',
    type: 'message',
    role: 'assistant',
    model,
    content: [{ type: 'text', text }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 120, output_tokens: 40 },
  };
}

function sse(res, model, text) {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  send('message_start', { type: 'message_start', message: { ...message(model, ''), content: [], usage: { input_tokens: 120, output_tokens: 1 } } });
  send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  for (const piece of text.match(/[\s\S]{1,24}/g) ?? []) {
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
  }
  send('content_block_stop', { type: 'content_block_stop', index: 0 });
  send('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 40 } });
  send('message_stop', { type: 'message_stop' });
  res.end();
}

export function startFakeAnthropic(port = Number(process.env.FAKE_ANTHROPIC_PORT ?? 3990)) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url.startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'no such endpoint' } }));
        return;
      }
      let request;
      try {
        request = JSON.parse(body);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'malformed JSON' } }));
        return;
      }
      const system = typeof request.system === 'string' ? request.system : JSON.stringify(request.system ?? '');
      const role = roleOf(system);
      const critical = role === 'coder' && JSON.stringify(request.messages ?? []).includes(CRITICAL_MARKER);
      const text = critical ? CRITICAL_CODER : ANSWERS[role];
      const answer = () => {
        if (request.stream) return sse(res, request.model, text);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(message(request.model, text)));
      };
      const slow = role === 'reviewer' && JSON.stringify(request.messages ?? []).includes(SLOW_MARKER);
      if (!slow) return answer();
      const held = setTimeout(answer, SLOW_MS);
      res.on('close', () => clearTimeout(held));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
