-- The `workspace` schema as the existing service defined it (tables, constraints, indexes,
-- triggers, the six seeded categories). Written with IF NOT EXISTS throughout so that a
-- database created by the original init script is adopted as it is.

CREATE SCHEMA IF NOT EXISTS workspace;

CREATE TABLE IF NOT EXISTS workspace.workspace_categories (
    name         VARCHAR(100) PRIMARY KEY,
    display_name VARCHAR(200) NOT NULL,
    description  TEXT,
    is_active    BOOLEAN DEFAULT true,
    sort_order   INTEGER DEFAULT 0,
    created_at   TIMESTAMPTZ DEFAULT NOW(),
    updated_at   TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX IF NOT EXISTS idx_categories_active
    ON workspace.workspace_categories (is_active) WHERE is_active;

INSERT INTO workspace.workspace_categories (name, display_name, sort_order) VALUES
    ('documentacao',  'Documentação',     1),
    ('coleta-dados',  'Coleta de Dados',  2),
    ('banco-dados',   'Banco de Dados',   3),
    ('analise-dados', 'Análise de Dados', 4),
    ('gestao-riscos', 'Gestão de Riscos', 5),
    ('dashboard',     'Dashboard',        6)
ON CONFLICT (name) DO NOTHING;

CREATE TABLE IF NOT EXISTS workspace.workspace_items (
    id          SERIAL PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT,
    category    TEXT NOT NULL REFERENCES workspace.workspace_categories (name) ON DELETE RESTRICT,
    priority    TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    status      TEXT NOT NULL CHECK (status IN ('new', 'review', 'in-progress', 'completed', 'rejected')),
    tags        TEXT[] DEFAULT '{}',
    metadata    JSONB DEFAULT '{}',
    created_at  TIMESTAMPTZ DEFAULT NOW(),
    updated_at  TIMESTAMPTZ DEFAULT NOW(),
    created_by  TEXT,
    updated_by  TEXT
);

CREATE INDEX IF NOT EXISTS idx_items_category ON workspace.workspace_items (category);
CREATE INDEX IF NOT EXISTS idx_items_status ON workspace.workspace_items (status);
CREATE INDEX IF NOT EXISTS idx_items_priority ON workspace.workspace_items (priority);
CREATE INDEX IF NOT EXISTS idx_items_created_at ON workspace.workspace_items (created_at DESC);
CREATE INDEX IF NOT EXISTS idx_items_tags ON workspace.workspace_items USING GIN (tags);
CREATE INDEX IF NOT EXISTS idx_items_metadata ON workspace.workspace_items USING GIN (metadata);
CREATE INDEX IF NOT EXISTS idx_items_category_status ON workspace.workspace_items (category, status);

CREATE OR REPLACE FUNCTION workspace.update_updated_at_column() RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = NOW();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER update_workspace_items_updated_at
    BEFORE UPDATE ON workspace.workspace_items
    FOR EACH ROW EXECUTE FUNCTION workspace.update_updated_at_column();

CREATE OR REPLACE TRIGGER update_workspace_categories_updated_at
    BEFORE UPDATE ON workspace.workspace_categories
    FOR EACH ROW EXECUTE FUNCTION workspace.update_updated_at_column();
