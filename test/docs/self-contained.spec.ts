/**
 * The repository stands on its own: a plain `git clone` has everything its README and docs point
 * at. Every relative link of README.md and docs/*.md names a file or folder inside the repository
 * that exists, and every file the README's commands read (`--data-binary @file`, `< file`) exists.
 * No Redis needed: this reads files only.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(__dirname, '../..');

function markdownFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f));
  return [join(ROOT, 'README.md'), ...docs];
}

/** Relative link targets of a Markdown text (`[text](target)`), without anchors; web and mail links left out. */
function relativeLinks(markdown: string): string[] {
  const out: string[] = [];
  for (const m of markdown.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    out.push(target.split('#')[0]);
  }
  return out;
}

/** Files the README's shell commands read: `@path` of curl's --data-binary, and `< path` redirections. */
function filesReadByCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```(?:bash|sh)\n([\s\S]*?)```/g)].map((m) => m[1]);
  const out: string[] = [];
  for (const block of blocks) {
    for (const m of block.matchAll(/--data-binary @(\S+)/g)) out.push(m[1]);
    for (const m of block.matchAll(/ < ([^\s)]+)/g)) out.push(m[1]);
  }
  return out;
}

/** Why `target`, linked from `file`, is not a path inside the repository that exists; null when it is. */
function brokenLink(file: string, target: string): string | null {
  const path = resolve(dirname(file), decodeURIComponent(target));
  const inside = relative(ROOT, path);
  if (inside === '..' || inside.startsWith(`..${sep}`)) return `${target} points outside the repository`;
  if (!existsSync(path)) return `${target} does not exist`;
  return null;
}

describe('the repository stands on its own', () => {
  it('reads links the way Markdown writes them', () => {
    expect(relativeLinks('[a](docs/x.md) [b](https://e.org/y) [c](#top) [d](../y.md#part) [e](<z.md> "title")')).toEqual(['docs/x.md', '../y.md', 'z.md']);
    expect(filesReadByCommands('```bash\ncurl --data-binary @examples/a.yaml u\necho "$(jq -Rs . < examples/b.yaml)"\n```\n')).toEqual(['examples/a.yaml', 'examples/b.yaml']);
  });

  it('finds a link that leaves the repository, or names a missing file', () => {
    expect(brokenLink(join(ROOT, 'docs', 'x.md'), '../../elsewhere/SPEC.md')).toMatch(/outside the repository/);
    expect(brokenLink(join(ROOT, 'README.md'), 'docs/no-such-page.md')).toMatch(/does not exist/);
    expect(brokenLink(join(ROOT, 'README.md'), 'docs/protocol.md')).toBeNull();
  });

  it.each(markdownFiles().map((f) => [relative(ROOT, f), f]))('every relative link of %s is a file of the repository', (_name, file) => {
    const broken = relativeLinks(readFileSync(file, 'utf8'))
      .map((target) => brokenLink(file, target))
      .filter((why): why is string => why !== null);
    expect(broken).toEqual([]);
  });

  it("every file the README's commands read is in the repository", () => {
    const readme = join(ROOT, 'README.md');
    const files = filesReadByCommands(readFileSync(readme, 'utf8'));
    expect(files.length).toBeGreaterThan(0);
    expect(files.map((f) => brokenLink(readme, f)).filter((why) => why !== null)).toEqual([]);
  });

  it('ships the example documents, good and bad, that the README, the demo and the tests use', () => {
    const yaml = (dir: string) => readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.yaml'));
    expect(yaml('examples').length).toBeGreaterThan(0);
    expect(yaml('examples/bad').length).toBeGreaterThan(0);
  });
});
