// tests/clients/tagd.mjs: starts the real tagd for a client test, as tests/api/conftest.py does:
// a free port, a fresh data directory, a known admin token. The binary is $TAGD_BIN or
// build/tagd; $TAGD_TEST_STORE (a PostgreSQL URL) is not used here: these suites check what the
// clients see, which the store does not change.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, openSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_TOKEN = 'test-admin-token-0123456789';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function startTagd(extraArgs = []) {
  const bin = process.env.TAGD_BIN || join(ROOT, 'build', 'tagd');
  const data = mkdtempSync(join(tmpdir(), 'tagd-client-'));
  const logPath = join(data, 'server.log');
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const log = openSync(logPath, 'a');
    const proc = spawn(bin, ['--data', data, '--listen', `127.0.0.1:${port}`, ...extraArgs], {
      env: { ...process.env, TAGD_ADMIN_TOKEN: ADMIN_TOKEN },
      stdio: ['ignore', log, log],
    });
    closeSync(log);
    let exited = null;
    proc.on('exit', (code) => { exited = code; });
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && exited === null) {
      try {
        const r = await fetch(url + '/healthz');
        if (r.status === 200) return new Tagd(proc, url, data, logPath);
      } catch { /* not listening yet */ }
      await sleep(50);
    }
    const text = readFileSync(logPath, 'utf8');
    if (exited !== null && text.includes('address already in use')) continue;
    proc.kill('SIGKILL');
    throw new Error(`tagd did not start:\n${text}`);
  }
  throw new Error('no free port after 5 attempts');
}

class Tagd {
  constructor(proc, url, data, logPath) {
    Object.assign(this, { proc, url, data, logPath });
  }

  // A native call with the admin token; answers the parsed body, throws on another status.
  async native(method, path, body, want = [200, 201, 204]) {
    const r = await fetch(this.url + path, {
      method,
      headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!want.includes(r.status)) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  async token(rights, name = 'client-test') {
    return (await this.native('POST', '/v1/tokens', { name, rights })).token;
  }

  // SIGTERM, then the checks conftest.py makes: a clean exit and no sanitizer report.
  async stop() {
    const code = await new Promise((resolve) => {
      if (this.proc.exitCode !== null) return resolve(this.proc.exitCode);
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 20000);
      this.proc.on('exit', (c) => { clearTimeout(t); resolve(c); });
      this.proc.kill('SIGTERM');
    });
    const log = readFileSync(this.logPath, 'utf8');
    rmSync(this.data, { recursive: true, force: true });
    for (const marker of ['AddressSanitizer', 'LeakSanitizer', 'runtime error:'])
      if (log.includes(marker)) throw new Error(`sanitizer report:\n${log.slice(-8000)}`);
    if (code !== 0) throw new Error(`tagd exited with ${code}:\n${log.slice(-4000)}`);
  }
}
