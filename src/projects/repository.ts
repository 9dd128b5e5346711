// SQL for projects: create (with its starting grant), list and find by id or name.

import { eq, or, sql } from "drizzle-orm";
import type { PendingSettlements } from "../credits/settlement-applier";
import type { Db } from "../db/connection";
import { apiKeys, ledgerEntries, projects } from "../db/schema";

export interface Project {
  id: string;
  name: string;
  balanceNanoUsd: number;
  createdAt: number;
}

export interface ProjectSummary extends Project {
  keyCount: number;
}

export function newId(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

export class ProjectRepository {
  /** `settlements` applies settled requests to balances before a balance is read. */
  constructor(
    private readonly db: Db,
    private readonly settlements: PendingSettlements,
  ) {}

  /** Creates a project and its starting grant in one transaction. */
  create(name: string, startingNanoUsd: number, now: number): Project {
    const project: Project = { id: newId("proj"), name, balanceNanoUsd: startingNanoUsd, createdAt: now };
    this.db.transaction(
      (tx) => {
        tx.insert(projects).values(project).run();
        if (startingNanoUsd !== 0) {
          tx.insert(ledgerEntries)
            .values({ projectId: project.id, kind: "grant", amountNanoUsd: startingNanoUsd, note: "starting credits", createdAt: now })
            .run();
        }
      },
      { behavior: "immediate" },
    );
    return project;
  }

  /** A project by id or by name. */
  find(idOrName: string): Project | undefined {
    this.settlements.catchUp();
    return this.db.select().from(projects).where(or(eq(projects.id, idOrName), eq(projects.name, idOrName))).get();
  }

  findById(id: string): Project | undefined {
    this.settlements.catchUp();
    return this.db.select().from(projects).where(eq(projects.id, id)).get();
  }

  list(): ProjectSummary[] {
    this.settlements.catchUp();
    return this.db
      .select({
        id: projects.id,
        name: projects.name,
        balanceNanoUsd: projects.balanceNanoUsd,
        createdAt: projects.createdAt,
        // Qualified by hand: drizzle renders bare column names here, and a bare "id" inside the
        // subquery would mean api_keys.id (every count came out 0).
        keyCount: sql<number>`(select count(*) from ${apiKeys} where ${apiKeys}.project_id = ${projects}.id)`,
      })
      .from(projects)
      .orderBy(projects.createdAt)
      .all();
  }
}
