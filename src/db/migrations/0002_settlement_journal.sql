CREATE TABLE `settlement_watermark` (
	`id` integer PRIMARY KEY NOT NULL,
	`applied_seq` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `__new_requests` (
	`seq` integer PRIMARY KEY NOT NULL,
	`id` text NOT NULL,
	`project_id` text NOT NULL,
	`key_id` text NOT NULL,
	`env` text NOT NULL,
	`endpoint` text NOT NULL,
	`model` text NOT NULL,
	`provider` text,
	`upstream_model` text,
	`stream` integer NOT NULL,
	`status` integer NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`cached_input_tokens` integer NOT NULL,
	`cost_nano_usd` integer NOT NULL,
	`usage_source` text NOT NULL,
	`latency_ms` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_requests`("id", "project_id", "key_id", "env", "endpoint", "model", "provider", "upstream_model", "stream", "status", "input_tokens", "output_tokens", "cached_input_tokens", "cost_nano_usd", "usage_source", "latency_ms", "created_at") SELECT "id", "project_id", "key_id", "env", "endpoint", "model", "provider", "upstream_model", "stream", "status", "input_tokens", "output_tokens", "cached_input_tokens", "cost_nano_usd", "usage_source", "latency_ms", "created_at" FROM `requests` ORDER BY "created_at", "id";--> statement-breakpoint
DROP TABLE `requests`;--> statement-breakpoint
ALTER TABLE `__new_requests` RENAME TO `requests`;--> statement-breakpoint
CREATE UNIQUE INDEX `requests_id_unique` ON `requests` (`id`);--> statement-breakpoint
CREATE INDEX `requests_project_time` ON `requests` (`project_id`,`created_at`);--> statement-breakpoint
-- Every row written before this migration already has its charge and rollup in the ledger.
INSERT INTO `settlement_watermark` (`id`, `applied_seq`) SELECT 1, coalesce(max(`seq`), 0) FROM `requests`;
