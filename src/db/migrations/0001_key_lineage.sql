ALTER TABLE `api_keys` ADD `lineage_id` text;--> statement-breakpoint
CREATE INDEX `api_keys_lineage` ON `api_keys` (`lineage_id`);--> statement-breakpoint
WITH RECURSIVE `chain`(`id`, `root`) AS (
	SELECT `id`, `id` FROM `api_keys` WHERE `id` NOT IN (SELECT `replaced_by` FROM `api_keys` WHERE `replaced_by` IS NOT NULL)
	UNION
	SELECT `k`.`replaced_by`, `chain`.`root` FROM `api_keys` `k` JOIN `chain` ON `k`.`id` = `chain`.`id` WHERE `k`.`replaced_by` IS NOT NULL
)
UPDATE `api_keys` SET `lineage_id` = coalesce((SELECT `root` FROM `chain` WHERE `chain`.`id` = `api_keys`.`id`), `id`);
