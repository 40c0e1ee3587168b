-- revisions: 0023
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE alert_incidents (
	owner VARCHAR(20) NOT NULL, 
	state VARCHAR(12) NOT NULL, 
	changed_at DATETIME NOT NULL, 
	PRIMARY KEY (owner)
);
CREATE TABLE catalogue_version (
	id INTEGER NOT NULL, 
	version BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE "credit_notes" (
	code VARCHAR(40) NOT NULL, 
	associated_ref TEXT NOT NULL, 
	gross NUMERIC(18, 2) NOT NULL, 
	currency VARCHAR(3) NOT NULL, 
	date VARCHAR(40) NOT NULL, 
	seen_at DATETIME NOT NULL, net NUMERIC(18, 2), tax NUMERIC(18, 2), 
	PRIMARY KEY (code)
);
CREATE TABLE "document_bodies" (
	document_id INTEGER NOT NULL, 
	body TEXT NOT NULL, 
	lines TEXT DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (document_id), 
	FOREIGN KEY(document_id) REFERENCES documents (id)
);
CREATE TABLE "documents" (
	id INTEGER NOT NULL, 
	associated_ref TEXT NOT NULL, 
	return_id TEXT NOT NULL, 
	sequence INTEGER NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	item_ids TEXT NOT NULL, 
	hold_reason TEXT NOT NULL, 
	source_updated_at TEXT NOT NULL, 
	feed_position BIGINT, 
	created_at DATETIME NOT NULL, 
	state_changed_at DATETIME NOT NULL, 
	published_at DATETIME, 
	first_served_at DATETIME, 
	last_served_at DATETIME, 
	ruleset_hash VARCHAR(64) DEFAULT '' NOT NULL, 
	currency VARCHAR(3) DEFAULT '' NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (associated_ref), 
	UNIQUE (feed_position)
);
CREATE TABLE exception_actions (
	id INTEGER NOT NULL, 
	trace_key TEXT NOT NULL, 
	action VARCHAR(12) NOT NULL, 
	login TEXT NOT NULL, 
	person TEXT NOT NULL, 
	at DATETIME NOT NULL, 
	assigned_to TEXT DEFAULT '' NOT NULL, 
	note TEXT DEFAULT '' NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE "exceptions" (
	trace_key TEXT NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	owner VARCHAR(20) NOT NULL, 
	return_id TEXT NOT NULL, 
	item_id TEXT NOT NULL, 
	message TEXT NOT NULL, 
	status VARCHAR(12) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_seen DATETIME NOT NULL, 
	occurrences INTEGER NOT NULL, 
	severity VARCHAR(8) DEFAULT 'high' NOT NULL, 
	details TEXT DEFAULT '{}' NOT NULL, 
	ruleset_hash VARCHAR(64) DEFAULT ('') NOT NULL, 
	alerted_status VARCHAR(12) DEFAULT ('') NOT NULL, 
	alerted_severity VARCHAR(8) DEFAULT ('') NOT NULL, 
	alerted_at DATETIME, assigned_to TEXT DEFAULT '' NOT NULL, 
	PRIMARY KEY (trace_key)
);
CREATE TABLE "order_statuses" (
	order_id VARCHAR(40) NOT NULL, 
	order_code VARCHAR(80) NOT NULL, 
	associated_ref TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	payload TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (order_id)
);
CREATE TABLE proposal_decisions (
	id INTEGER NOT NULL, 
	proposal_id VARCHAR(16) NOT NULL, 
	client TEXT NOT NULL, 
	kind VARCHAR(40) NOT NULL, 
	subject TEXT NOT NULL, 
	path TEXT NOT NULL, 
	value TEXT NOT NULL, 
	meaning TEXT DEFAULT '' NOT NULL, 
	decision VARCHAR(10) NOT NULL, 
	decided_by TEXT NOT NULL, 
	decided_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE pulls (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	format VARCHAR(8) NOT NULL, 
	specific_ids BOOLEAN NOT NULL, 
	continuation_in VARCHAR(80) NOT NULL, 
	continuation_out VARCHAR(80) NOT NULL, 
	refs TEXT NOT NULL, 
	count INTEGER NOT NULL, first_position BIGINT, last_position BIGINT, served_through BIGINT DEFAULT '0' NOT NULL, marks_pending BOOLEAN DEFAULT 0 NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE return_versions (
	id INTEGER NOT NULL, 
	return_id TEXT NOT NULL, 
	seen_at DATETIME NOT NULL, 
	record TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE "reveni_returns" (
	return_id TEXT NOT NULL, 
	updated_at TEXT NOT NULL, 
	content_hash VARCHAR(64) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	last_changed DATETIME NOT NULL, 
	ruleset_hash VARCHAR(64) DEFAULT ('') NOT NULL, 
	status TEXT DEFAULT ('') NOT NULL, 
	version_id INTEGER NOT NULL, 
	PRIMARY KEY (return_id), 
	CONSTRAINT fk_reveni_returns_version FOREIGN KEY(version_id) REFERENCES return_versions (id)
);
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	counts TEXT DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE stock_codes (
	stock_id VARCHAR(40) NOT NULL, 
	stock_code VARCHAR(100) NOT NULL, 
	first_seen DATETIME NOT NULL, 
	PRIMARY KEY (stock_id, stock_code)
);
CREATE TABLE stock_items (
	stock_id VARCHAR(40) NOT NULL, 
	stock_code VARCHAR(100) NOT NULL, 
	other_ref VARCHAR(100) NOT NULL, 
	barcodes TEXT NOT NULL, 
	tax_rate TEXT NOT NULL, 
	discontinued BOOLEAN NOT NULL, 
	deleted BOOLEAN NOT NULL, 
	payload TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (stock_id)
);
CREATE TABLE stock_levels (
	stock_id VARCHAR(40) NOT NULL, 
	site_id VARCHAR(20) NOT NULL, 
	stock_code VARCHAR(100) NOT NULL, 
	available NUMERIC(18, 4) NOT NULL, 
	on_order NUMERIC(18, 4) NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (stock_id, site_id)
);
CREATE TABLE store_owner (
	id INTEGER NOT NULL, 
	client VARCHAR(100) NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_credit_notes_associated_ref ON credit_notes (associated_ref);
CREATE INDEX ix_documents_follow_ups ON documents (return_id) WHERE sequence > 1;
CREATE INDEX ix_exception_actions_trace_key ON exception_actions (trace_key);
CREATE INDEX ix_exceptions_last_seen ON exceptions (last_seen);
CREATE INDEX ix_exceptions_return_id ON exceptions (return_id);
CREATE INDEX ix_order_statuses_associated_ref ON order_statuses (associated_ref);
CREATE INDEX ix_proposal_decisions_proposal_id ON proposal_decisions (proposal_id);
CREATE INDEX ix_pulls_marks_pending ON pulls (id) WHERE marks_pending IS 1;
CREATE INDEX ix_stock_items_stock_code ON stock_items (stock_code);
INSERT INTO "alembic_version" VALUES('0023');
INSERT INTO "catalogue_version" VALUES(1,0);
