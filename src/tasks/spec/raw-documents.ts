/**
 * The YAML text of each document of a submission, for the dd27001 record field `raw_yaml`. Pure.
 *
 * A line that starts with `---` (alone or followed by a space) or is `...` ends a document: YAML
 * forbids such a line inside any scalar, so splitting on them is exact for the documents the
 * parser accepts. Documents with nothing but blank lines, comments and directives are skipped, as
 * the parser skips empty documents; the text of the others is kept as sent (separator excluded).
 */
const SEPARATOR = /^(?:---(?:[ \t].*)?|\.\.\.[ \t]*)$/;
const NOTHING = /^(?:[ \t]*(?:#.*)?|%.*)$/;

/** The non-empty documents' texts, in order. */
export function splitYamlDocuments(text: string): string[] {
  const out: string[] = [];
  let current: string[] = [];
  const flush = () => {
    // Blank lines before the next separator are not the document's; its own lines stay as sent.
    while (current.length > 0 && current[current.length - 1].trim() === '') current.pop();
    if (current.some((line) => !NOTHING.test(line))) out.push(`${current.join('\n')}\n`);
    current = [];
  };
  for (const line of text.split(/\r?\n/)) {
    if (SEPARATOR.test(line)) {
      flush();
      // `--- {inline: document}`: the content after the marker belongs to the document it opens.
      const rest = line.startsWith('---') ? line.slice(3).trim() : '';
      if (rest !== '') current.push(rest);
    } else current.push(line);
  }
  flush();
  return out;
}

/**
 * Per draft key (`d<document index>` or `d<index>/<stage or node>`), the text of its document: the
 * whole text for a one-document submission, else that document's. When the split does not match
 * the documents the parser found (something this splitter does not know), every task gets the
 * whole text rather than another document's.
 */
export function rawDocumentOf(text: string, keys: string[]): (key: string) => string {
  const docIndex = (key: string) => Number(/^d(\d+)/.exec(key)?.[1] ?? 0);
  const documents = new Set(keys.map(docIndex)).size;
  if (documents <= 1) return () => text;
  const parts = splitYamlDocuments(text);
  const highest = Math.max(...keys.map(docIndex));
  if (parts.length !== highest + 1) return () => text;
  return (key) => parts[docIndex(key)];
}
