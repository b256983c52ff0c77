/**
 * Turns submitted YAML into task drafts (TASK-SPEC sections 1-3, 5, 6).
 * Pure: no Redis, no Nest. Every refusal is a SpecError naming the field path.
 *
 * Flow: YAML text -> plain documents (loadDocuments) -> per document, stages or
 * graph nodes expanded into effective documents (expandDocument) -> each
 * effective document validated into a draft (buildDraft / readTask).
 */
import { cloneJson, deepMerge, isPlainObject, PlainObject } from '../../contracts/plain-data';
import { parseCpuQuantity, parseMemoryQuantity } from '../../contracts/quantities';
import { findReferences } from '../../contracts/upstream-refs';
import { GpuRequirement, Requirements, SpecError, TaskDocument, TaskDraft, TooManyTasksError } from './task-draft';
import { loadWithJsYaml } from './yaml-fast-path';
import { DEFAULT_MAX_DOCUMENTS, loadWithYaml, MAX_NESTING_DEPTH, ParseSubmissionOptions, tooManyDocuments } from './yaml-slow-path';

export { loadWithYaml, MAX_NESTING_DEPTH };
export type { ParseSubmissionOptions };

const PRIORITY_LIMIT = 1_000_000;
/** Defaults of MAX_TASKS_PER_SUBMISSION and MAX_NAME_LENGTH (src/config/env.ts). */
export const DEFAULT_MAX_TASKS = 1000;
export const DEFAULT_MAX_NAME_LENGTH = 256;
/** The longest `spec.retention.seconds` any configuration accepts (TASK_RETENTION_MAX_SEC's own maximum, src/config/env.ts): 100 years. */
export const RETENTION_CEILING_SEC = 100 * 365 * 86_400;

/**
 * What names, owners, stage and node names may contain: no control characters (line feeds forge
 * log lines, NUL cuts strings in C tools), no format characters (bidi overrides make a name read
 * differently from what it is, zero-width ones make two names look alike), no line or paragraph
 * separators, no lone surrogates. Anything else printable is allowed, spaces and non-Latin scripts included.
 */
const FORBIDDEN_NAME_CHARACTER = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

/** Keys that describe how a document expands; they are not part of any task's effective spec. */
const EXPANSION_KEYS = ['stages', 'graph', 'dependsOn'];

export function parseSubmission(text: string, opts: ParseSubmissionOptions = {}): TaskDraft[] {
  return draftsOf(loadDocuments(text, opts), opts);
}

/**
 * parseSubmission, with the `yaml` path (the slow one, taken by refusals and rare constructs) run by
 * `loadSlow`, e.g. on a worker thread (yaml-thread.ts) so that a big text cannot hold the event loop.
 */
export async function parseSubmissionWith(
  text: string,
  loadSlow: (text: string, opts: ParseSubmissionOptions) => Promise<unknown[]>,
  opts: ParseSubmissionOptions = {},
): Promise<TaskDraft[]> {
  return draftsOf(loadFast(text, opts) ?? (await loadSlow(text, opts)), opts);
}

/** The drafts of loaded documents: stages and graphs expanded, every task validated. */
function draftsOf(documents: unknown[], opts: ParseSubmissionOptions): TaskDraft[] {
  if (documents.length === 0) throw new SpecError('', 'Empty task document');
  const maxTasks = opts.maxTasks ?? DEFAULT_MAX_TASKS;
  const count = documents.reduce<number>((sum, document) => sum + declaredTasks(document), 0);
  if (count > maxTasks) throw new TooManyTasksError(count, maxTasks);
  const maxNameLength = opts.maxNameLength ?? DEFAULT_MAX_NAME_LENGTH;

  // Paths only need the document index when there is more than one document.
  const prefixed = documents.length > 1;
  return documents.flatMap((document, index) => {
    try {
      return expandDocument(document, index, maxNameLength);
    } catch (err) {
      if (err instanceof DocumentIssue) throw err.toSpecError(prefixed ? ['documents', index] : []);
      throw err;
    }
  });
}

// ---------------------------------------------------------------------------
// YAML loading

/**
 * How many submissions each YAML path loaded, for tests and diagnostics: a test
 * checks that typical documents really take the fast path.
 */
export const yamlPathCounts = { fast: 0, yaml: 0 };

/**
 * The non-empty documents of `text` as plain data. Most texts take the js-yaml
 * fast path (yaml-fast-path.ts), which gives exactly what loadWithYaml would;
 * anything it does not handle, every refusal included, goes to loadWithYaml.
 */
export function loadDocuments(text: string, opts: ParseSubmissionOptions = {}): unknown[] {
  return loadFast(text, opts) ?? loadWithYaml(text, opts);
}

/** The fast path's documents, or null when the text must go to the `yaml` path (loadWithYaml). */
export function loadFast(text: string, opts: ParseSubmissionOptions = {}): unknown[] | null {
  if (typeof text !== 'string') throw new SpecError('', 'Task document must be YAML text');
  const maxDocuments = opts.maxDocuments ?? DEFAULT_MAX_DOCUMENTS;

  const documents = loadWithJsYaml(text, MAX_NESTING_DEPTH);
  if (documents !== null) {
    yamlPathCounts.fast++;
    // The fast path gives exactly the yaml path's documents, so this is the yaml path's refusal,
    // without parsing a text that is too big again, slowly.
    if (documents.length > maxDocuments) throw tooManyDocuments(maxDocuments);
    return documents;
  }
  yamlPathCounts.yaml++;
  return null;
}

// ---------------------------------------------------------------------------
// Paths and refusals

type FieldPath = readonly (string | number)[];

/** `['spec', 'stages', 1, 'name']` -> `spec.stages[1].name`. */
function formatPath(path: FieldPath): string {
  return path.reduce<string>((out, segment) => {
    if (typeof segment === 'number') return `${out}[${segment}]`;
    return out ? `${out}.${segment}` : segment;
  }, '');
}

/**
 * A refusal inside one document. Its path is relative to the document and may
 * still be moved (to the stage that set the bad value) or prefixed (with
 * `documents[i]`) before it becomes the SpecError the caller sees.
 */
class DocumentIssue extends Error {
  constructor(
    readonly path: FieldPath,
    readonly problem: string,
    /** A missing required field; its message has a fixed form users rely on. */
    readonly missing = false,
  ) {
    super(problem);
  }

  static missingField(path: FieldPath): DocumentIssue {
    return new DocumentIssue(path, 'missing', true);
  }

  movedTo(path: FieldPath): DocumentIssue {
    return new DocumentIssue(path, this.problem, this.missing);
  }

  toSpecError(prefix: FieldPath): SpecError {
    const path = formatPath([...prefix, ...this.path]);
    if (this.missing) return new SpecError(path, `Missing required field: ${path}`);
    return new SpecError(path, path ? `${path}: ${this.problem}` : this.problem);
  }
}

/** Short rendering of an offending value for messages (bounded, as values come from users). */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 56)}..."` : text;
  }
  return String(value);
}

// ---------------------------------------------------------------------------
// Field readers: a value together with where it was found

/** One field of a document; null counts as absent, since YAML writes `gpu:` with nothing after it as null. */
class Field {
  constructor(
    readonly value: unknown,
    readonly path: FieldPath,
  ) {}

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  invalid(problem: string): DocumentIssue {
    return new DocumentIssue(this.path, problem);
  }

  required(): Field {
    if (!this.present) throw DocumentIssue.missingField(this.path);
    return this;
  }

  ifPresent<T>(read: (field: Field) => T): T | undefined {
    return this.present ? read(this) : undefined;
  }

  mapping(): Fields {
    if (!isPlainObject(this.value)) throw this.invalid(`must be a mapping, got ${describe(this.value)}`);
    return new Fields(this.value, this.path);
  }

  list(): Field[] {
    if (!Array.isArray(this.value)) throw this.invalid(`must be a list, got ${describe(this.value)}`);
    return this.value.map((item, index) => new Field(item, [...this.path, index]));
  }

  string(): string {
    if (typeof this.value !== 'string' || this.value.trim() === '') {
      throw this.invalid(`must be a non-empty string, got ${describe(this.value)}`);
    }
    return this.value;
  }

  /** A name, owner, stage or node name: a non-empty string within the length limit and the character rule. */
  name(maxLength: number): string {
    const text = this.string();
    if (text.length > maxLength) throw this.invalid(`must be at most ${maxLength} characters (MAX_NAME_LENGTH), got ${text.length}`);
    const bad = FORBIDDEN_NAME_CHARACTER.exec(text);
    if (bad) {
      const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
      throw this.invalid(`must not contain control, format or line-separator characters, got U+${code} at position ${bad.index}`);
    }
    return text;
  }

  stringList(): string[] {
    return this.list().map((item) => item.string());
  }

  boolean(): boolean {
    if (typeof this.value !== 'boolean') throw this.invalid(`must be true or false, got ${describe(this.value)}`);
    return this.value;
  }

  /** Only exact (safe) integers: a YAML 9007199254740993 arrives as ...992 and must not be taken as it. */
  integer(min: number, max = Number.POSITIVE_INFINITY): number {
    if (typeof this.value !== 'number' || !Number.isSafeInteger(this.value) || this.value < min || this.value > max) {
      const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `between ${min} and ${max}`;
      const unsafe = typeof this.value === 'number' && Number.isInteger(this.value) && !Number.isSafeInteger(this.value) ? ' (beyond 2^53, not exact)' : '';
      throw this.invalid(`must be an integer ${range}, got ${describe(this.value)}${unsafe}`);
    }
    return this.value;
  }

  number(min: number): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value) || this.value < min) {
      throw this.invalid(`must be a number >= ${min}, got ${describe(this.value)}`);
    }
    return this.value;
  }

  cpu(): number {
    const cores = parseCpuQuantity(this.value);
    if (cores === null) {
      throw this.invalid(`must be a non-negative number of cores (8, "0.5", "500m"), got ${describe(this.value)}`);
    }
    return cores;
  }

  memory(): number {
    const bytes = parseMemoryQuantity(this.value);
    if (bytes === null) throw this.invalid(`cannot parse memory quantity ${describe(this.value)}`);
    return bytes;
  }
}

/** A mapping of a document, read field by field. */
class Fields {
  constructor(
    readonly value: PlainObject,
    readonly path: FieldPath,
  ) {}

  field(key: string): Field {
    return new Field(Object.hasOwn(this.value, key) ? this.value[key] : undefined, [...this.path, key]);
  }
}

// ---------------------------------------------------------------------------
// Validation of one effective document

type TaskFields = Omit<TaskDraft, 'key' | 'doc' | 'dependsOnKeys'>;

function readTask(doc: PlainObject): TaskFields {
  const root = new Fields(doc, []);
  root.field('apiVersion').required().string();
  root.field('kind').required().string();
  const metadata = root.field('metadata').required().mapping();
  const name = metadata.field('name').required().string();
  const owner = metadata.field('owner').ifPresent((f) => f.string()) ?? null;

  const spec = root.field('spec').required().mapping();
  const taskType = spec.field('taskType').required().string();
  // The task type is part of the requirement set: placement groups workers by it (TASK-SPEC section 4).
  const requirements: Requirements = { ...readRequirements(spec), taskType };
  const priority = spec.field('priority').ifPresent((f) => f.integer(-PRIORITY_LIMIT, PRIORITY_LIMIT)) ?? 0;

  const retry = spec.field('retry').ifPresent((f) => f.mapping());
  const maxRetries = retry?.field('maxRetries').ifPresent((f) => f.integer(0)) ?? null;
  const backoffSec = retry?.field('backoffSec').ifPresent((f) => f.number(0)) ?? null;
  // TASK_RETENTION_MAX_SEC bounds it further (TasksService); this is that variable's own ceiling.
  const retention = spec.field('retention').ifPresent((f) => f.mapping());
  const retentionSec = retention?.field('seconds').required().integer(1, RETENTION_CEILING_SEC) ?? null;

  const parallelSpec = spec.field('parallel').ifPresent((f) => f.mapping());
  const parallelEnabled = parallelSpec?.field('enabled').ifPresent((f) => f.boolean()) ?? false;
  const maxShards = parallelSpec?.field('max_shards').ifPresent((f) => f.integer(1)) ?? null;

  const dependsOnIds = spec.field('dependsOn').ifPresent((f) => f.stringList()) ?? [];

  return {
    name,
    owner,
    taskType,
    requirements,
    priority,
    maxRetries,
    backoffSec,
    retentionSec,
    // Data-parallel fan-out is only defined for inference (TASK-SPEC section 5).
    parallel: taskType === 'inference' && parallelEnabled,
    maxShards,
    dependsOnIds: unique(dependsOnIds),
  };
}

function readRequirements(spec: Fields): Requirements {
  const resources = spec.field('resources').required().mapping();
  const replicas = resources.field('replicas').required().integer(1);
  const tags = resources.field('tags').ifPresent((f) => f.stringList()) ?? [];

  const hardware = resources.field('hardware').required().mapping();
  const cpu = hardware.field('cpu').required().cpu();
  const memoryBytes = hardware.field('memory').required().memory();
  const gpu = hardware.field('gpu').ifPresent(readGpu) ?? null;

  const enforceCpuField = spec.field('enforce_cpu');
  const enforceCpu = enforceCpuField.ifPresent((f) => f.boolean()) ?? false;
  if (enforceCpu && gpu) {
    throw enforceCpuField.invalid('cannot be true when spec.resources.hardware.gpu.count > 0');
  }

  return { replicas, cpu, memoryBytes, gpu, enforceCpu, tags };
}

/** A gpu block with count 0 asks for no GPU at all, which placement treats as no block (null). */
function readGpu(field: Field): GpuRequirement | null {
  const gpu = field.mapping();
  const type = gpu.field('type').required().string().trim().toLowerCase();
  const count = gpu.field('count').required().integer(0);
  const memoryBytes = gpu.field('memory').ifPresent((f) => f.memory()) ?? null;
  return count === 0 ? null : { type, count, memoryBytes };
}

function buildDraft(key: string, doc: PlainObject, dependsOnKeys: string[]): TaskDraft {
  const task = readTask(doc);
  // readTask has just checked apiVersion, kind, metadata.name and spec, which is
  // all TaskDocument promises beyond a plain mapping.
  return { key, ...task, doc: doc as TaskDocument, dependsOnKeys };
}

// ---------------------------------------------------------------------------
// Expansion of a document into tasks: plain, stages, or graph

/** A stage or graph node, as declared. */
interface Unit {
  name: string;
  /** Where it is declared, e.g. `spec.stages[1]`. */
  path: FieldPath;
  /** Its own spec, deep-merged over the base spec. */
  spec: PlainObject;
  /** As written: names of other units of the document, or ids of earlier tasks. */
  dependsOn: string[];
}

interface UnitList {
  kind: 'stage' | 'node';
  /** `spec.stages` or `spec.graph.nodes`: where a cycle is reported. */
  path: FieldPath;
  units: Unit[];
  /** Stages run strictly in order; graph nodes only wait for what they list. */
  chained: boolean;
}

function expandDocument(document: unknown, docIndex: number, maxNameLength: number): TaskDraft[] {
  if (!isPlainObject(document)) throw new DocumentIssue([], 'Task document must be a mapping');
  checkNumbers(document);
  checkNames(document, maxNameLength);
  const root = new Fields(document, []);
  const spec = root.field('spec').required().mapping();

  const unitList = readUnitList(spec, maxNameLength);
  if (!unitList) {
    const doc = plainDocument(document);
    checkReferences(doc, new Set());
    return [buildDraft(`d${docIndex}`, doc, [])];
  }

  const baseName = root.field('metadata').required().mapping().field('name').required().string();
  const baseIds = spec.field('dependsOn').ifPresent((f) => f.stringList()) ?? [];
  return expandUnits(document, baseName, baseIds, unitList, docIndex);
}

/**
 * How many tasks a loaded document declares, read before anything is validated or expanded: its
 * graph nodes, else its stages, else 1. A malformed document counts 1 (its refusal comes later).
 */
function declaredTasks(document: unknown): number {
  const spec = isPlainObject(document) ? document.spec : undefined;
  if (!isPlainObject(spec)) return 1;
  const graph = spec.graph;
  if (isPlainObject(graph) && Array.isArray(graph.nodes)) return Math.max(1, graph.nodes.length);
  if (Array.isArray(spec.stages)) return Math.max(1, spec.stages.length);
  return 1;
}

/**
 * Refuses a non-finite number anywhere in the document (`.inf`, `.nan`, `1e400`): JSON would store
 * it as null, i.e. silently as "not given". Iterative: nesting is bounded by the loaders, but a
 * walk should not depend on it.
 */
function checkNumbers(document: PlainObject): void {
  const stack: { value: unknown; path: FieldPath }[] = [{ value: document, path: [] }];
  while (stack.length > 0) {
    const { value, path } = stack.pop()!;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new DocumentIssue(path, `must be a finite number, got ${describe(value)}`);
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) if (typeof value[i] === 'object' || typeof value[i] === 'number') stack.push({ value: value[i], path: [...path, i] });
    } else if (isPlainObject(value)) {
      for (const key of Object.keys(value)) {
        const v = value[key];
        if (typeof v === 'object' || typeof v === 'number') stack.push({ value: v, path: [...path, key] });
      }
    }
  }
}

/**
 * `metadata.name` and `metadata.owner` as written, when they are strings (a missing or non-string
 * one is refused by readTask, in its usual order).
 */
function checkNames(document: PlainObject, maxNameLength: number): void {
  const metadata = new Fields(document, []).field('metadata');
  if (!isPlainObject(metadata.value)) return;
  const fields = metadata.mapping();
  for (const key of ['name', 'owner']) {
    const field = fields.field(key);
    if (typeof field.value === 'string' && field.value.trim() !== '') field.name(maxNameLength);
  }
}

/**
 * A document without stages or graph; an empty `stages: []` is dropped (it means "no stages").
 * Not copied: it was parsed for this submission and becomes this one task's document.
 */
function plainDocument(document: PlainObject): PlainObject {
  const spec = document.spec as PlainObject;
  return Object.hasOwn(spec, 'stages') ? { ...document, spec: withoutKeys(spec, ['stages']) } : document;
}

function readUnitList(spec: Fields, maxNameLength: number): UnitList | null {
  const stages = spec.field('stages');
  const graph = spec.field('graph');
  if (stages.present && graph.present) throw graph.invalid('cannot be combined with spec.stages');

  if (graph.present) {
    const nodes = graph.mapping().field('nodes').required();
    const units = nodes.list().map((item) => readUnit(item, null, maxNameLength));
    if (units.length === 0) throw nodes.invalid('must be a non-empty list');
    return { kind: 'node', path: nodes.path, units, chained: false };
  }

  const units = stages.ifPresent((f) => f.list().map((item, i) => readUnit(item, `stage-${i + 1}`, maxNameLength))) ?? [];
  return units.length > 0 ? { kind: 'stage', path: stages.path, units, chained: true } : null;
}

/**
 * A stage or node `{name, spec, dependsOn}`; `defaultName` null means the name
 * is required (graph nodes). Dependencies written inside its `spec.dependsOn`
 * count as its own too: that is where a user who thinks of a stage as "a task
 * document" would put them.
 */
function readUnit(item: Field, defaultName: string | null, maxNameLength: number): Unit {
  const unit = item.mapping();
  const nameField = unit.field('name');
  const name = defaultName === null ? nameField.required().name(maxNameLength) : (nameField.ifPresent((f) => f.name(maxNameLength)) ?? defaultName);
  const spec = unit.field('spec').ifPresent((f) => f.mapping());
  const dependsOn = [...(unit.field('dependsOn').ifPresent((f) => f.stringList()) ?? []), ...(spec?.field('dependsOn').ifPresent((f) => f.stringList()) ?? [])];
  return { name, path: item.path, spec: spec?.value ?? {}, dependsOn };
}

function expandUnits(document: PlainObject, baseName: string, baseIds: string[], list: UnitList, docIndex: number): TaskDraft[] {
  checkUniqueNames(list);
  const names = new Set(list.units.map((unit) => unit.name));
  const keyOf = (name: string) => `d${docIndex}/${name}`;

  const waitsFor = new Map<string, string[]>();
  const externalIds = new Map<string, string[]>();
  list.units.forEach((unit, index) => {
    const previous = list.chained && index > 0 ? [list.units[index - 1].name] : [];
    waitsFor.set(unit.name, unique([...previous, ...unit.dependsOn.filter((dep) => names.has(dep))]));
    externalIds.set(unit.name, unique([...baseIds, ...unit.dependsOn.filter((dep) => !names.has(dep))]));
  });

  const ordering = dependencyOrder([...names], waitsFor);
  if ('cycle' in ordering) throw new DocumentIssue(list.path, `dependency cycle ${ordering.cycle.join(' -> ')}`);

  const unitsByName = new Map(list.units.map((unit) => [unit.name, unit]));
  // Every stage upstream of each one, transitively (the order puts a unit after all it waits for).
  const ancestors = new Map<string, Set<string>>();
  for (const name of ordering.order) {
    const all = new Set<string>();
    for (const dep of waitsFor.get(name) ?? []) {
      all.add(dep);
      for (const a of ancestors.get(dep) ?? []) all.add(a);
    }
    ancestors.set(name, all);
  }
  return ordering.order.map((name) => {
    const unit = unitsByName.get(name) as Unit;
    const doc = effectiveDocument(document, `${baseName}:${name}`, unit, externalIds.get(name) ?? []);
    try {
      const named = checkReferences(doc, ancestors.get(name) ?? new Set());
      const draft = buildDraft(keyOf(name), doc, (waitsFor.get(name) ?? []).map(keyOf));
      if (named.size === 0) return draft;
      const direct = waitsFor.get(name) ?? [];
      const stages = Object.fromEntries([...new Set([...direct, ...named])].map((stage) => [stage, keyOf(stage)]));
      return { ...draft, upstream: { stages, direct } };
    } catch (err) {
      if (err instanceof DocumentIssue) throw locateInUnit(err, unit);
      throw err;
    }
  });
}

/**
 * The stages the `${<stage>.result...}` and `${<stage>.task_id}` references of the document's spec
 * name (TASK-SPEC section 2); each must be upstream of the task, or the document is refused with the
 * path of the string that names it.
 */
function checkReferences(doc: PlainObject, upstream: Set<string>): Set<string> {
  const named = new Set<string>();
  for (const { path, ref } of findReferences(doc.spec, ['spec'])) {
    if (!upstream.has(ref.stage)) {
      const known = upstream.size > 0 ? `upstream stages: ${[...upstream].join(', ')}` : 'this task has no upstream stage';
      throw new DocumentIssue(path, `${ref.text} names no stage upstream of this task (${known})`);
    }
    named.add(ref.stage);
  }
  return named;
}

function checkUniqueNames(list: UnitList): void {
  const seen = new Set<string>();
  for (const unit of list.units) {
    if (seen.has(unit.name)) {
      throw new DocumentIssue([...unit.path, 'name'], `duplicate ${list.kind} name ${JSON.stringify(unit.name)}`);
    }
    seen.add(unit.name);
  }
}

/**
 * Base document without `stages`/`graph`, the unit's spec deep-merged over the
 * base spec, and the unit's name. Choice: the effective `spec.dependsOn` is kept
 * and holds exactly the external task ids this task waits for (base ids plus
 * the unit's own), so the stored document says what the task depends on outside
 * its submission; in-submission edges live in `dependsOnKeys`, since sibling
 * tasks have no ids yet.
 */
function effectiveDocument(document: PlainObject, name: string, unit: Unit, externalIds: string[]): PlainObject {
  // Each task gets its own copy of everything: deepMerge copies both specs, and
  // cloneJson the other fields (spec is left out of that copy, then put back in its place).
  const spec = deepMerge(withoutKeys(document.spec as PlainObject, EXPANSION_KEYS), withoutKeys(unit.spec, EXPANSION_KEYS));
  if (externalIds.length > 0) spec.dependsOn = externalIds;
  const doc = cloneJson<PlainObject>({ ...document, spec: null });
  doc.spec = spec;
  doc.metadata = { ...(doc.metadata as PlainObject), name };
  return doc;
}

/**
 * Effective documents are validated after merging, but a refusal should point
 * at what the user wrote: the unit's spec when the value came from there, the
 * base spec otherwise. A missing field is blamed on the unit when the mapping
 * that lacks it was written by the unit (e.g. a stage's own `gpu` block).
 */
function locateInUnit(issue: DocumentIssue, unit: Unit): DocumentIssue {
  const [head, ...rest] = issue.path;
  if (head !== 'spec') return issue;
  const written = issue.missing ? rest.slice(0, -1) : rest;
  if (written.length === 0 || !hasPath(unit.spec, written)) return issue;
  return issue.movedTo([...unit.path, 'spec', ...rest]);
}

function hasPath(value: unknown, path: FieldPath): boolean {
  let current = value;
  for (const segment of path) {
    if (typeof segment === 'number' ? !Array.isArray(current) : !isPlainObject(current)) return false;
    const container = current as PlainObject;
    if (!Object.hasOwn(container, segment)) return false;
    current = container[segment];
  }
  return current !== undefined && current !== null;
}

/**
 * Depth-first order in which every unit comes after what it waits for; when the
 * document order already satisfies that, it is returned unchanged. Iterative,
 * because a long pipeline would otherwise mean deep recursion.
 */
function dependencyOrder(names: string[], waitsFor: Map<string, string[]>): { order: string[] } | { cycle: string[] } {
  const state = new Map<string, 'open' | 'done'>();
  const order: string[] = [];
  for (const start of names) {
    if (state.has(start)) continue;
    state.set(start, 'open');
    const trail = [{ name: start, next: 0 }];
    while (trail.length > 0) {
      const top = trail[trail.length - 1];
      const deps = waitsFor.get(top.name) ?? [];
      if (top.next === deps.length) {
        trail.pop();
        state.set(top.name, 'done');
        order.push(top.name);
        continue;
      }
      const dep = deps[top.next++];
      if (state.get(dep) === 'open') {
        const open = trail.map((frame) => frame.name);
        return { cycle: [...open.slice(open.indexOf(dep)), dep] };
      }
      if (!state.has(dep)) {
        state.set(dep, 'open');
        trail.push({ name: dep, next: 0 });
      }
    }
  }
  return { order };
}

function withoutKeys(value: PlainObject, keys: string[]): PlainObject {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key)));
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
