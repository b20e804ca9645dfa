// Types of the Flotilla REST API v1 (DESIGN §3–4). Field names match the JSON.

/** WAITING comes before QUEUED: a run waiting for the runs it was launched after, or an array's parent for its children. */
export type RunStatus = 'WAITING' | 'QUEUED' | 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'STOPPED';

export const ACTIVE_STATUSES: RunStatus[] = ['WAITING', 'QUEUED', 'PENDING', 'RUNNING'];
export const TERMINAL_STATUSES: RunStatus[] = ['SUCCEEDED', 'FAILED', 'STOPPED'];
export const ALL_STATUSES: RunStatus[] = [...ACTIVE_STATUSES, ...TERMINAL_STATUSES];

export function isActive(status: RunStatus): boolean {
  return ACTIVE_STATUSES.includes(status);
}

export type Env = Record<string, string>;

export interface Definition {
  definition_id: string;
  alias: string;
  group_name: string;
  image: string;
  command: string;
  cpu: number;
  memory: number;
  gpu?: number;
  env?: Env;
  tags?: string[];
  timeout_seconds?: number;
  retry?: { max_attempts?: number };
  /** A JSON Schema of typed parameters; the command is then a template (see ParamsForm). */
  parameters_schema?: ParametersSchema | null;
  /** The IAM role its jobs run as on ECS (deployed only). */
  task_role_arn?: string;
  /** Retry an attempt that ran out of memory with more memory (ECS only). */
  on_out_of_memory?: { retry_with_memory_factor?: number };
  /** Told when a run ends. */
  notify?: NotifyTarget[];
  revision: number;
  created_at: string;
  updated_at: string;
}

/** Where a run's end is told: a webhook (signed with secret's value) or an e-mail address. */
export interface NotifyTarget {
  webhook?: string;
  secret?: string;
  email?: string;
}

/** The writable fields of a definition (POST body; PATCH takes any subset). */
export type DefinitionInput = Partial<
  Pick<
    Definition,
    'alias' | 'group_name' | 'image' | 'command' | 'cpu' | 'memory' | 'gpu' | 'env' | 'tags' | 'timeout_seconds' | 'retry'
    | 'task_role_arn' | 'on_out_of_memory' | 'notify' | 'parameters_schema'
  >
>;

export interface Attempt {
  attempt: number;
  task_id?: string;
  queued_at?: string;
  started_at?: string;
  finished_at?: string;
  exit_code?: number | null;
  reason?: string;
}

export interface Run {
  run_id: string;
  definition_id: string;
  alias: string;
  revision: number;
  cluster: string;
  status: RunStatus;
  status_reason?: string;
  reason_code?: string;
  wait_reason?: string;
  queue_position?: number;
  owner?: string;
  owner_name?: string;
  image: string;
  command: string;
  cpu: number;
  memory: number;
  gpu?: number;
  env?: Env;
  tags?: string[];
  engine?: string;
  attempt?: number;
  attempts?: Attempt[];
  exit_code?: number | null;
  queued_at?: string;
  started_at?: string;
  finished_at?: string;
  timeout_seconds?: number;
  idempotency_key?: string;
  schedule_id?: string;
  estimated_cost_usd?: number | null;
  cost_usd?: number | null;
  /** The run it was launched from: stopping that one stops this one. */
  parent?: string;
  task_role_arn?: string;
  notify?: NotifyTarget[];
  /** The params the command was rendered with (defaults filled in). */
  params?: Params;
  /** On an array's parent: its children. */
  array?: RunArray;
  /** On an array's child: its index (FLOTILLA_ARRAY_INDEX); parent is the array. */
  array_index?: number;
  /** On a child of an array launched with items: its item (FLOTILLA_ARRAY_ITEM). */
  array_item?: Record<string, unknown>;
  /** The runs it waits for (WAITING, wait_reason "dependencies") until all have succeeded. */
  after?: string[];
}

/** RunArray describes an array's parent (GET /v1/runs/{id} adds the summary). */
export interface RunArray {
  size: number;
  /** How many children exist so far: they are made in batches after the launch. */
  created: number;
  listed?: boolean;
  items?: boolean;
  /** Arrays whose child i this array's child i waits for. */
  after_each?: string[];
  /** The array whose failed and stopped children this one runs again. */
  retry_of?: string;
  summary?: ChildSummary;
}

export interface ChildSummary {
  counts: Partial<Record<RunStatus, number>>;
  ended: number;
  /** Indexes of the children that ended FAILED or STOPPED, ascending. */
  failed_indexes: number[];
}

/** Values of a definition's template parameters, by name. */
export type Params = Record<string, string | number | boolean>;

/** One parameter of a parameters_schema (the only shapes the API accepts). */
export interface ParameterSchema {
  type: 'string' | 'number' | 'integer' | 'boolean';
  title?: string;
  description?: string;
  default?: string | number | boolean;
  enum?: (string | number | boolean)[];
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
}

export interface ParametersSchema {
  type: 'object';
  title?: string;
  description?: string;
  properties?: Record<string, ParameterSchema>;
  required?: string[];
}

export interface LaunchInput {
  definition: string;
  cluster?: string;
  env?: Env;
  command?: string;
  cpu?: number;
  memory?: number;
  timeout_seconds?: number;
  tags?: string[];
  idempotency_key?: string;
  params?: Params;
  /** true: render and check only; nothing is stored or queued (200). */
  dry_run?: boolean;
  /** An array: size children, or one child per item. */
  array?: { size: number } | { items: Record<string, unknown>[] };
  /** Runs that must all succeed first (at most 20). */
  after?: string[];
  after_each?: string[];
}

export interface RunEvent {
  time: string;
  source?: string;
  from?: string;
  to?: string;
  reason?: string;
  attempt?: number;
}

export interface LogEvent {
  timestamp: string | number;
  message: string;
  /** "stderr" for a line of the job's standard error, where the engine tells them apart (locally; not on ECS). */
  stream?: 'stderr';
}

export interface LogPage {
  events: LogEvent[];
  next_token?: string;
  complete: boolean;
}

export interface Cluster {
  name: string;
  max_running: number;
  queued: number;
  running: number;
  launch_type?: string;
  /** A Fargate Spot cluster's on-demand twin: a run Spot interrupts twice continues there. */
  spot_fallback?: string;
}

export interface Schedule {
  schedule_id: string;
  name: string;
  definition: string;
  cluster?: string;
  expression: string;
  timezone?: string;
  env?: Env;
  enabled: boolean;
  /** What happens to fire times missed while nothing could fire them: "none" skips them, "latest" runs the latest once. */
  catch_up?: 'none' | 'latest' | string;
  owner?: string;
  last_fire_time?: string;
  next_fire_times?: string[];
  /** Template parameters each fire launches with. */
  params?: Params;
}

export type ScheduleInput = Partial<Omit<Schedule, 'schedule_id' | 'next_fire_times' | 'owner' | 'last_fire_time'>>;

export interface List<T> {
  items: T[];
  next_token?: string;
}

export interface RunFilter {
  status?: RunStatus[];
  cluster?: string;
  definition?: string;
  owner?: string;
  tag?: string;
  since?: string;
  until?: string;
  /** schedule_id: only the runs a schedule launched. */
  schedule_id?: string;
  /** Only the runs launched from this run (an array's children). */
  parent?: string;
  /** Only the runs that wait (or waited) for this run. */
  after?: string;
  limit?: number;
  next_token?: string;
}

export interface DefinitionFilter {
  alias?: string;
  group?: string;
  tag?: string;
  image?: string;
  limit?: number;
  next_token?: string;
}

/** One entry of a problem document's `errors`: which input field is wrong and why. */
export interface FieldError {
  field: string;
  message: string;
}

export type CostGroupBy = 'owner' | 'definition' | 'cluster';

/** CostReport is GET /v1/costs: finished runs' cost_usd summed per owner, definition (alias) or cluster. */
export interface CostReport {
  group_by: CostGroupBy;
  items: { key: string; cost_usd: number; runs: number }[];
  total_usd: number;
}
