// Just the part of memjs 1.3 (which ships no types) that the end-to-end tests use.
declare module 'memjs' {
  interface Options {
    retries?: number;
    timeout?: number;
    expires?: number;
    logger?: { log: (...args: unknown[]) => void };
  }
  interface Client {
    get(key: string): Promise<{ value: Buffer | null; flags: Buffer | null }>;
    set(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
    add(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
    replace(key: string, value: string | Buffer, options?: { expires?: number }): Promise<boolean>;
    delete(key: string): Promise<boolean>;
    increment(
      key: string,
      amount: number,
      options?: { initial?: number; expires?: number },
    ): Promise<{ success: boolean; value: number | null }>;
    decrement(
      key: string,
      amount: number,
      options?: { initial?: number; expires?: number },
    ): Promise<{ success: boolean; value: number | null }>;
    append(key: string, value: string | Buffer): Promise<boolean>;
    prepend(key: string, value: string | Buffer): Promise<boolean>;
    touch(key: string, expires: number): Promise<boolean>;
    flush(): Promise<Record<string, boolean>>;
    stats(callback: (err: Error | null, server: string, stats: Record<string, string>) => void): void;
    close(): void;
    quit(): void;
  }
  const memjs: { Client: { create(servers: string, options?: Options): Client } };
  export default memjs;
}
