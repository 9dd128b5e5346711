// drizzle-kit settings: `npx drizzle-kit generate` writes new migrations to src/db/migrations,
// which src/db/migrate.ts embeds into the binary.
import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./src/db/migrations",
});
