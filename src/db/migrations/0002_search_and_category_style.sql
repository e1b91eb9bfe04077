-- Search runs in SQL: trigram indexes make the case-insensitive substring match on title,
-- description and tags an index scan instead of a read of the whole table.
-- Categories gain the colour and icon the dashboard already sends (the original dropped them).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Tags joined with a newline, which the clients never put inside a tag. IMMUTABLE so that it
-- can be indexed; array_to_string itself is only STABLE.
CREATE OR REPLACE FUNCTION workspace.tags_text(tags TEXT[]) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT array_to_string(tags, E'\n') $$;

CREATE INDEX IF NOT EXISTS idx_items_title_trgm
    ON workspace.workspace_items USING GIN (title gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_items_description_trgm
    ON workspace.workspace_items USING GIN (description gin_trgm_ops);
CREATE INDEX IF NOT EXISTS idx_items_tags_trgm
    ON workspace.workspace_items USING GIN (workspace.tags_text(tags) gin_trgm_ops);
-- The list's order (newest first, ties by id) as one index, so LIMIT/OFFSET stop early.
CREATE INDEX IF NOT EXISTS idx_items_created_at_id
    ON workspace.workspace_items (created_at DESC, id DESC);

ALTER TABLE workspace.workspace_categories
    ADD COLUMN IF NOT EXISTS color TEXT CHECK (color IS NULL OR color ~ '^#[0-9A-Fa-f]{6}$'),
    ADD COLUMN IF NOT EXISTS icon TEXT;
