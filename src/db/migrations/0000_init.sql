CREATE TABLE `api_keys` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`name` text NOT NULL,
	`env` text NOT NULL,
	`key_hash` text NOT NULL,
	`display` text NOT NULL,
	`scopes` text NOT NULL,
	`models` text,
	`spend_limit_nano_usd` integer,
	`limit_reset` text,
	`rpm` integer,
	`tpm` integer,
	`expires_at` integer,
	`created_at` integer NOT NULL,
	`last_used_at` integer,
	`revoked_at` integer,
	`replaced_by` text,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_keys_key_hash_unique` ON `api_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `api_keys_project` ON `api_keys` (`project_id`);--> statement-breakpoint
CREATE TABLE `ledger_entries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`project_id` text NOT NULL,
	`kind` text NOT NULL,
	`amount_nano_usd` integer NOT NULL,
	`request_id` text,
	`key_id` text,
	`note` text,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`project_id`) REFERENCES `projects`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_entries_request_id_unique` ON `ledger_entries` (`request_id`);--> statement-breakpoint
CREATE INDEX `ledger_project` ON `ledger_entries` (`project_id`);--> statement-breakpoint
CREATE TABLE `projects` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`balance_nano_usd` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `projects_name_unique` ON `projects` (`name`);--> statement-breakpoint
CREATE TABLE `requests` (
	`id` text PRIMARY KEY NOT NULL,
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
CREATE INDEX `requests_project_time` ON `requests` (`project_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `requests_time` ON `requests` (`created_at`);--> statement-breakpoint
CREATE TABLE `settings` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `usage_hourly` (
	`project_id` text NOT NULL,
	`key_id` text NOT NULL,
	`model` text NOT NULL,
	`env` text NOT NULL,
	`hour` integer NOT NULL,
	`requests` integer NOT NULL,
	`input_tokens` integer NOT NULL,
	`output_tokens` integer NOT NULL,
	`cached_input_tokens` integer NOT NULL,
	`cost_nano_usd` integer NOT NULL,
	PRIMARY KEY(`project_id`, `key_id`, `model`, `env`, `hour`)
);
--> statement-breakpoint
CREATE INDEX `usage_hourly_key_hour` ON `usage_hourly` (`key_id`,`hour`);--> statement-breakpoint
CREATE INDEX `usage_hourly_hour` ON `usage_hourly` (`hour`);