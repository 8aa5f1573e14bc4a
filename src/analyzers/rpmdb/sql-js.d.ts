// The subset of sql.js that the rpm sqlite reader uses (the package ships no types).
declare module 'sql.js' {
  export interface QueryExecResult {
    columns: string[]
    values: unknown[][]
  }
  export interface Statement {
    step(): boolean
    get(): unknown[]
    free(): boolean
  }
  export interface Database {
    exec(sql: string): QueryExecResult[]
    prepare(sql: string): Statement
    close(): void
  }
  export interface SqlJsStatic {
    Database: new (data?: Uint8Array) => Database
  }
  export default function initSqlJs(config?: { locateFile?: (file: string) => string }): Promise<SqlJsStatic>
}
