// Installation-wide settings kept in the database (today: the generated admin token's hash).

import { eq } from "drizzle-orm";
import type { Db } from "./connection";
import { settings } from "./schema";

export class SettingsRepository {
  constructor(private readonly db: Db) {}

  get(key: string): string | undefined {
    return this.db.select().from(settings).where(eq(settings.key, key)).get()?.value;
  }

  /**
   * Stores `value` unless the key already has one, and returns the value that stands: two
   * processes starting at once agree on a single winner.
   */
  setIfAbsent(key: string, value: string): string {
    this.db.insert(settings).values({ key, value }).onConflictDoNothing().run();
    return this.get(key)!;
  }
}
