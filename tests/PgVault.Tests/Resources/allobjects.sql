-- PgVault test fixture: one database containing (almost) every kind of object
-- that pg_dump carries, each table with some data.
--
-- Run as a superuser into a fresh, empty database:
--   psql -v ON_ERROR_STOP=1 -d <db> -f allobjects.sql
--
-- Properties relied on by the tests:
--   * deterministic: no random(), no now()/clock-dependent values, fixed
--     large-object OIDs, fixed sequence positions;
--   * re-runnable in several databases of one cluster: the two cluster-wide
--     roles are created only if missing; everything else is per database;
--   * needs only core PostgreSQL plus the contrib extensions hstore, pgcrypto
--     and citext (no btree_gist, no event triggers, no FDWs, no tablespaces).
--
-- Note: CREATE PUBLICATION prints "WARNING: wal_level is insufficient to
-- publish logical changes" when wal_level < logical; that is expected.

SET client_min_messages = warning;
SET check_function_bodies = on;

------------------------------------------------------------------------------
-- Roles (cluster-wide, idempotent)
------------------------------------------------------------------------------
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgv_reader') THEN
    CREATE ROLE pgv_reader;
  END IF;
END $$;
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'pgv_writer') THEN
    CREATE ROLE pgv_writer;
  END IF;
END $$;

------------------------------------------------------------------------------
-- Schemas
------------------------------------------------------------------------------
CREATE SCHEMA app;
CREATE SCHEMA audit;
CREATE SCHEMA crypto;
CREATE SCHEMA "MixedCase";
CREATE SCHEMA reporting AUTHORIZATION pgv_writer;

COMMENT ON SCHEMA app IS 'Main application schema';
COMMENT ON SCHEMA "MixedCase" IS 'Schema with a quoted, mixed-case name';

GRANT USAGE ON SCHEMA app TO pgv_reader, pgv_writer;
GRANT CREATE ON SCHEMA app TO pgv_writer;
GRANT USAGE ON SCHEMA audit TO pgv_reader;

------------------------------------------------------------------------------
-- Extensions (contrib)
------------------------------------------------------------------------------
CREATE EXTENSION hstore SCHEMA public;
CREATE EXTENSION citext SCHEMA public;
CREATE EXTENSION pgcrypto SCHEMA crypto;

------------------------------------------------------------------------------
-- Default privileges (set before tables are created in app)
------------------------------------------------------------------------------
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app
  GRANT SELECT ON TABLES TO pgv_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app
  GRANT USAGE, SELECT ON SEQUENCES TO pgv_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app
  REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA app
  GRANT EXECUTE ON FUNCTIONS TO pgv_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE pgv_writer IN SCHEMA reporting
  GRANT SELECT ON TABLES TO pgv_reader;

------------------------------------------------------------------------------
-- Collation, text search configuration
------------------------------------------------------------------------------
CREATE COLLATION app.c_coll FROM "C";
COMMENT ON COLLATION app.c_coll IS 'Byte-order collation copied from "C"';

CREATE TEXT SEARCH CONFIGURATION app.pgv_english (COPY = pg_catalog.english);
ALTER TEXT SEARCH CONFIGURATION app.pgv_english
  DROP MAPPING FOR email, url, url_path;
COMMENT ON TEXT SEARCH CONFIGURATION app.pgv_english IS 'English without email/url tokens';

------------------------------------------------------------------------------
-- Types: enum, domains, composite, range
------------------------------------------------------------------------------
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
ALTER TYPE app.mood ADD VALUE 'meh' BEFORE 'ok';      -- odd enumsortorder
ALTER TYPE app.mood ADD VALUE 'ecstatic' AFTER 'happy';
COMMENT ON TYPE app.mood IS 'How someone feels';

CREATE TYPE app.order_status AS ENUM ('new', 'paid', 'shipped', 'cancelled');

CREATE DOMAIN app.positive_int AS integer
  DEFAULT 1
  CONSTRAINT positive_int_check CHECK (VALUE > 0);
CREATE DOMAIN app.email AS citext
  NOT NULL
  CONSTRAINT email_has_at CHECK (VALUE ~ '^[^@[:space:]]+@[^@[:space:]]+$');
CREATE DOMAIN app.percentage AS numeric(5,2)
  CONSTRAINT pct_lo CHECK (VALUE >= 0)
  CONSTRAINT pct_hi CHECK (VALUE <= 100);
COMMENT ON DOMAIN app.email IS 'Case-insensitive e-mail address';

CREATE TYPE app.address AS (
  street  text,
  city    text,
  zip     varchar(10),
  country char(2)
);
COMMENT ON TYPE app.address IS 'Postal address (composite type)';
COMMENT ON COLUMN app.address.zip IS 'Postal code';

CREATE TYPE app.floatrange AS RANGE (subtype = float8, subtype_diff = float8mi);
COMMENT ON TYPE app.floatrange IS 'Range of double precision';

GRANT USAGE ON TYPE app.mood TO pgv_reader;
GRANT USAGE ON DOMAIN app.email TO pgv_writer;

------------------------------------------------------------------------------
-- Sequences
------------------------------------------------------------------------------
CREATE SEQUENCE app.invoice_no
  AS bigint INCREMENT BY 7 MINVALUE 1000 MAXVALUE 9999999 START WITH 1000 CACHE 1;
SELECT setval('app.invoice_no', 4242);

CREATE SEQUENCE app.cyclic_seq
  AS smallint INCREMENT BY 1 MINVALUE 1 MAXVALUE 5 START WITH 1 CYCLE;
SELECT nextval('app.cyclic_seq') FROM generate_series(1, 7);   -- wraps: now 2

CREATE SEQUENCE app.countdown_seq
  INCREMENT BY -3 MINVALUE -100 MAXVALUE 100 START WITH 100;
SELECT setval('app.countdown_seq', 10, false);                 -- is_called = false

COMMENT ON SEQUENCE app.invoice_no IS 'Invoice numbers, step 7';
GRANT USAGE ON SEQUENCE app.invoice_no TO pgv_writer;

------------------------------------------------------------------------------
-- Functions, procedures, aggregates
------------------------------------------------------------------------------
CREATE FUNCTION app.add_vat(amount numeric, rate numeric DEFAULT 0.19)
RETURNS numeric
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT round(amount * (1 + rate), 2) $$;
COMMENT ON FUNCTION app.add_vat(numeric, numeric) IS 'Gross amount incl. VAT';

-- SQL-standard function body (dependency-tracked)
CREATE FUNCTION app.add_one(i integer) RETURNS integer
LANGUAGE sql IMMUTABLE
RETURN i + 1;

CREATE FUNCTION app.slugify(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog
AS $fn$
DECLARE
  r text;
BEGIN
  r := lower(regexp_replace(t, '[^A-Za-z0-9]+', '-', 'g'));
  RETURN trim(both '-' from r);
END;
$fn$;
COMMENT ON FUNCTION app.slugify(text) IS 'URL slug of a string';

CREATE FUNCTION app.fib(n integer, OUT idx integer, OUT val bigint)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  a bigint := 0;
  b bigint := 1;
  t bigint;
BEGIN
  FOR i IN 1..n LOOP
    idx := i; val := a;
    RETURN NEXT;
    t := a + b; a := b; b := t;
  END LOOP;
END;
$$;

-- aggregate with custom state function and final function
CREATE FUNCTION app.concat_sfunc(state text, val text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT CASE WHEN state = '' THEN val ELSE state || '|' || val END $$;

CREATE FUNCTION app.concat_ffunc(state text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT '[' || state || ']' $$;

CREATE AGGREGATE app.pipe_concat(text) (
  SFUNC = app.concat_sfunc,
  STYPE = text,
  FINALFUNC = app.concat_ffunc,
  INITCOND = ''
);
COMMENT ON AGGREGATE app.pipe_concat(text) IS 'Concatenates with | and brackets';

CREATE AGGREGATE app.product(numeric) (
  SFUNC = numeric_mul,
  STYPE = numeric,
  INITCOND = '1'
);

REVOKE ALL ON FUNCTION app.slugify(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.slugify(text) TO pgv_writer WITH GRANT OPTION;

------------------------------------------------------------------------------
-- Core tables: customers / products / orders
------------------------------------------------------------------------------
CREATE TABLE app.customers (
  id          integer GENERATED ALWAYS AS IDENTITY (START WITH 100 INCREMENT BY 10) PRIMARY KEY,
  email       app.email,
  name        text NOT NULL,
  name_c      text COLLATE app.c_coll,
  mood        app.mood DEFAULT 'ok',
  address     app.address,
  attrs       hstore,
  tags        text[],
  active      boolean NOT NULL DEFAULT true,
  slug        text GENERATED ALWAYS AS (lower(replace(name, ' ', '-'))) STORED,
  CONSTRAINT customers_email_key UNIQUE (email)
);
COMMENT ON TABLE app.customers IS 'Customers (identity ALWAYS, citext, hstore, composite)';
COMMENT ON COLUMN app.customers.slug IS 'Generated stored column';
COMMENT ON COLUMN app.customers."name" IS 'Display name; may contain unicode';

INSERT INTO app.customers (email, name, name_c, mood, address, attrs, tags, active) VALUES
  ('Alice@Example.com', 'Alice Liddell', 'alice', 'happy',
     ROW('1 Rabbit Hole', 'Oxford', 'OX1 1AA', 'GB'), 'tier=>gold, "lang"=>"en"', '{a,b,c}', true),
  ('bob@example.org', 'Bob Øystein Ærø', 'Bob', 'meh',
     ROW('Storgata 5', 'Oslo', '0155', 'NO'), 'tier=>silver', '{"with space","with,comma","with\"quote"}', true),
  ('chloe@example.fr', 'Chloé Zoë Ğüneş', 'chloé', 'ecstatic',
     ROW('12 rue de l''Église', 'Paris', '75001', 'FR'), '"key with space"=>"value => arrow", nullval=>NULL', '{NULL,x}', false),
  ('dmitri@example.ru', 'Дмитрий Иванов', 'дмитрий', 'sad',
     NULL, NULL, NULL, true),
  ('emoji@example.jp', '山田 太郎 🎉🐘', 'ｔａｒｏ', NULL,
     ROW(NULL, '東京', NULL, 'JP'), '', '{}', true),
  ('tab@example.com', E'Tab\there, newline\nthere, backslash \\ end', E'x\ry', 'ok',
     ROW(E'line1\nline2', 'Back\slash', '00000', 'DE'), 'a=>b', '{"\\\\"}', true);
-- one row with an explicit identity value
INSERT INTO app.customers (id, email, name) OVERRIDING SYSTEM VALUE
  VALUES (5, 'override@example.com', 'Explicit Id');

CREATE UNIQUE INDEX customers_lower_name_c_idx ON app.customers (lower(name_c));
CREATE INDEX customers_attrs_gin ON app.customers USING gin (attrs);
CREATE INDEX customers_active_partial ON app.customers (name) WHERE active;
CREATE INDEX customers_mood_idx ON app.customers USING hash (mood);

CREATE TABLE app.products (
  sku         text PRIMARY KEY,
  title       text NOT NULL,
  price       numeric(12,2) NOT NULL CONSTRAINT price_nonneg CHECK (price >= 0),
  vat_rate    app.percentage NOT NULL DEFAULT 19,
  weight_kg   real,
  dims        double precision[],
  search      tsvector GENERATED ALWAYS AS (to_tsvector('app.pgv_english'::regconfig, coalesce(title, ''))) STORED
);
COMMENT ON TABLE app.products IS 'Products (generated tsvector with custom TS config)';
CREATE INDEX products_search_gin ON app.products USING gin (search);
CREATE INDEX products_title_lower ON app.products (lower(title) text_pattern_ops);

INSERT INTO app.products (sku, title, price, vat_rate, weight_kg, dims) VALUES
  ('SKU-001', 'Blue Widget for running and jumping', 9.99, 19, 0.25, '{1.5,2.5,3.5}'),
  ('SKU-002', 'Red Gadget (see http://example.com/red)', 1234567890.12, 7, 12.5, '{{1,2},{3,4}}'),
  ('SKU-003', 'Free sample', 0, 0, NULL, NULL),
  ('SKU-004', 'Ünïcödé Thing ✓', 0.01, 100, 'NaN', '{Infinity,-Infinity,NaN}');

CREATE TABLE app.orders (
  id           bigserial PRIMARY KEY,
  invoice_no   bigint NOT NULL DEFAULT nextval('app.invoice_no') UNIQUE,
  customer_id  integer NOT NULL REFERENCES app.customers (id) ON DELETE RESTRICT,
  status       app.order_status NOT NULL DEFAULT 'new',
  ordered_at   timestamptz NOT NULL,
  note         text,
  CONSTRAINT orders_note_len CHECK (char_length(note) < 1000)
);
COMMENT ON TABLE app.orders IS 'Orders (bigserial, sequence default, FK)';

CREATE TABLE app.order_lines (
  order_id  bigint NOT NULL,
  line_no   smallint NOT NULL,
  sku       text NOT NULL,
  qty       app.positive_int NOT NULL,
  price     numeric(12,2) NOT NULL,
  total     numeric(14,2) GENERATED ALWAYS AS (qty * price) STORED,
  PRIMARY KEY (order_id, line_no),
  CONSTRAINT order_lines_order_fk FOREIGN KEY (order_id)
    REFERENCES app.orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT order_lines_sku_fk FOREIGN KEY (sku)
    REFERENCES app.products (sku) ON UPDATE CASCADE DEFERRABLE INITIALLY IMMEDIATE
);

INSERT INTO app.orders (customer_id, status, ordered_at, note) VALUES
  (100, 'paid',      '2024-01-15 10:30:00+01',           'first order'),
  (100, 'shipped',   '2024-02-29 23:59:59.999999+05:30', NULL),
  (110, 'new',       '2023-12-31 23:00:00-08',           E'multi\nline note'),
  (120, 'cancelled', '1999-12-31 23:59:59+00',           ''),
  (5,   'paid',      '2038-01-19 03:14:08+00',           'after 2038');

INSERT INTO app.order_lines (order_id, line_no, sku, qty, price) VALUES
  (1, 1, 'SKU-001', 3, 9.99),
  (1, 2, 'SKU-003', 1, 0),
  (2, 1, 'SKU-002', 1, 1234567890.12),
  (3, 1, 'SKU-004', 100, 0.01),
  (5, 1, 'SKU-001', 2, 9.50);

-- CHECK constraint added NOT VALID (pg_dump emits it as a separate post-data
-- "CHECK CONSTRAINT" item, after the data). All existing rows satisfy it on
-- purpose: with a violating row, a --schema-only restore followed by a
-- --data-only restore fails on COPY (--disable-triggers does not help for
-- CHECK constraints); only a full or section-wise restore would work.
ALTER TABLE app.orders
  ADD CONSTRAINT orders_recent CHECK (ordered_at > '1990-01-01'::timestamptz) NOT VALID;

-- extended statistics
CREATE STATISTICS app.orders_cust_status_stats (ndistinct, dependencies)
  ON customer_id, status FROM app.orders;
CREATE STATISTICS app.order_lines_expr_stats ON (qty * price), sku FROM app.order_lines;
COMMENT ON STATISTICS app.orders_cust_status_stats IS 'Extended statistics object';

------------------------------------------------------------------------------
-- Self-referencing FK, identity BY DEFAULT, OWNED BY sequence
------------------------------------------------------------------------------
CREATE TABLE app.employees (
  id          integer GENERATED BY DEFAULT AS IDENTITY (START WITH 1 INCREMENT BY 1 CACHE 5),
  manager_id  integer,
  name        text NOT NULL,
  badge_no    integer,
  salary      numeric(10,2),
  CONSTRAINT employees_pkey PRIMARY KEY (id),
  CONSTRAINT employees_manager_fk FOREIGN KEY (manager_id)
    REFERENCES app.employees (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE SEQUENCE app.badge_seq START WITH 500 OWNED BY app.employees.badge_no;
ALTER TABLE app.employees ALTER COLUMN badge_no SET DEFAULT nextval('app.badge_seq');

INSERT INTO app.employees (manager_id, name, salary) VALUES
  (NULL, 'CEO', 999999.99),
  (1, 'CTO', 500000.00),
  (2, 'Engineer', 100000.50),
  (2, 'Another Engineer', NULL);
INSERT INTO app.employees (id, manager_id, name, salary) VALUES (42, 1, 'Explicit 42', 1.00);
GRANT SELECT (id, name, manager_id) ON app.employees TO pgv_writer;
GRANT UPDATE (name) ON app.employees TO pgv_writer;
REVOKE SELECT ON app.employees FROM pgv_reader;
GRANT SELECT (id, name) ON app.employees TO pgv_reader;

------------------------------------------------------------------------------
-- Exotic data types table
------------------------------------------------------------------------------
CREATE TABLE app.datatypes (
  id          integer PRIMARY KEY,
  n_numeric   numeric,
  n_fixed     numeric(38,10),
  f8          double precision,
  f4          real,
  i2          smallint,
  i8          bigint,
  money_col   money,
  b           bytea,
  ts          timestamp,
  tstz        timestamptz,
  d           date,
  t           time,
  ttz         timetz,
  iv          interval,
  j           json,
  jb          jsonb,
  arr_int     integer[],
  arr_text    text[],
  u           uuid,
  inet_col    inet,
  cidr_col    cidr,
  mac         macaddr,
  bits        bit varying(16),
  pt          point,
  box_col     box,
  ir          int4range,
  nr          numrange,
  fr          app.floatrange,
  mr          int4multirange,
  xml_col     xml,
  tsv         tsvector,
  ch          char(5),
  vc          varchar(20),
  flag        boolean
);
COMMENT ON TABLE app.datatypes IS 'One column per interesting data type; edge values and NULLs';

INSERT INTO app.datatypes VALUES
 (1, 0, 0, 0, 0, 0, 0, 0, '\x', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00', '2000-01-01', '00:00', '00:00+00', '0',
  'null', '{}', '{}', '{}', '00000000-0000-0000-0000-000000000000', '0.0.0.0', '0.0.0.0/0', '00:00:00:00:00:00', B'',
  '(0,0)', '((0,0),(0,0))', 'empty', 'empty', 'empty', '{}', '<a/>', '', '', '', false),
 (2, 'NaN', -0.0000000001, 'NaN', 'NaN', -32768, -9223372036854775808, -92233720368547758.08,
  '\x00ff00deadbeef5c0a0d09', '4713-11-24 00:00:00 BC', '-infinity', '-infinity', '24:00:00', '23:59:59.999999-15:59',
  '-178000000 years', '[1, "two", {"three": 3.0}]', '{"z": 1, "a": [true, false, null], "nested": {"k": "v\u00e9"}}',
  '{1,NULL,3}', '{"a b","c,d","e\"f","g\\h",NULL,"NULL"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '2001:db8::1/64', '192.168.100.128/25', '08:00:2b:01:02:03', B'1010101010101010',
  '(-1.5,2.25)', '((1,1),(-1,-1))', '[1,10)', '(,5.5]', '[-1.5,1e10)', '{[1,3), [7,9)}',
  '<doc attr="1">text &amp; more</doc>', 'fat:2 cat:1,3 rat', 'ab', 'abcdefghijklmnopqrst', true),
 (3, 'Infinity', 9999999999999999999999999999.9999999999, 'Infinity', '-Infinity', 32767, 9223372036854775807, 92233720368547758.07,
  decode(repeat('00010203', 64), 'hex'), '294276-12-31 23:59:59.999999', 'infinity', 'infinity', '23:59:59.999999', '12:34:56+14:00',
  '1 year 2 mons 3 days 04:05:06.789', '{"dup": 1, "dup": 2}', '{"big": 123456789012345678901234567890.123456789, "small": 1e-30, "unicode": "\u263a☺"}',
  '{{1,2},{3,4}}', '{"Ωmega","日本語","🐘"}', 'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '255.255.255.255', '::/0', 'ff:ff:ff:ff:ff:ff', B'1',
  '(1e300,-1e-300)', '((1e10,1e10),(0,0))', '(,)', '[1.5,1.5]', '(,)', '{(,)}',
  '<?xml version="1.0"?><r>ünïcode</r>', 'ünïcödé:1A', 'x', 'ä', NULL),
 (4, '-Infinity', 123456789012345678901234567.8901234567, 1e-308, 1.17549435e-38, 1, 1, 0.01,
  convert_to('Grüße, 世界', 'UTF8'), '1970-01-01 00:00:00.000001', '1970-01-01 00:00:00.000001+00', '0001-01-01 BC', '12:00', '12:00-03:30',
  '-1 days +23:59:59.999999', '"just a string"', '"jsonb string with \"quotes\" and \\backslash"',
  ARRAY[2147483647, -2147483648], ARRAY[E'tab\there', E'nl\nthere', ''], 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
  '::ffff:1.2.3.4', '10.0.0.0/8', '01:23:45:67:89:ab', B'0000000000000001',
  '(3,4)', '((3,4),(1,2))', '[-2147483648,2147483647)', '[0.1,0.2]', '[0,1]', '{[-5,0], [10,20)}',
  '<e/>', '', '12345', repeat('z', 20), true),
 (5, 0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001,
  NULL, -0.0, -0.0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, 1e131071::text::numeric, NULL, 1.7976931348623157e308, 3.4028235e38, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- toasted values (large, deterministic)
CREATE TABLE app.blobs (
  id       integer PRIMARY KEY,
  name     text NOT NULL,
  payload  bytea,
  body     text,
  sha256   bytea
);
INSERT INTO app.blobs (id, name, payload, body)
SELECT 1, 'incompressible-ish 320KB text',
       NULL,
       (SELECT string_agg(md5(i::text), '' ORDER BY i) FROM generate_series(1, 10000) AS i);
INSERT INTO app.blobs (id, name, payload, body)
SELECT 2, '256KB bytea',
       (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea ORDER BY i) FROM generate_series(1, 16384) AS i),
       NULL;
INSERT INTO app.blobs (id, name, payload, body) VALUES (3, 'empty', '\x', ''), (4, 'nulls', NULL, NULL);
UPDATE app.blobs SET sha256 = crypto.digest(coalesce(payload, convert_to(coalesce(body, ''), 'UTF8')), 'sha256');

------------------------------------------------------------------------------
-- Large table (~20k rows) generated deterministically
------------------------------------------------------------------------------
CREATE TABLE app.measurements (
  id         integer PRIMARY KEY,
  sensor     text NOT NULL,
  taken_at   timestamptz NOT NULL,
  value      double precision,
  reading    numeric(10,3),
  flags      smallint[],
  meta       jsonb
);
INSERT INTO app.measurements
SELECT i,
       'sensor-' || (i % 17),
       timestamptz '2024-01-01 00:00:00+00' + (i * interval '37 seconds'),
       CASE WHEN i % 101 = 0 THEN NULL ELSE (i % 1000) / 7.0 END,
       ((i * 7919) % 100000) / 1000.0,
       ARRAY[(i % 3)::smallint, (i % 5)::smallint],
       jsonb_build_object('i', i, 'h', md5(i::text), 'even', i % 2 = 0)
FROM generate_series(1, 20000) AS i;
CREATE INDEX measurements_sensor_taken ON app.measurements (sensor, taken_at DESC);
CREATE INDEX measurements_meta_gin ON app.measurements USING gin (meta jsonb_path_ops);
CREATE INDEX measurements_taken_brin ON app.measurements USING brin (taken_at);
COMMENT ON TABLE app.measurements IS '20000 generated rows';

------------------------------------------------------------------------------
-- Exclusion constraint on a range (core gist, no btree_gist)
------------------------------------------------------------------------------
CREATE TABLE app.bookings (
  id      integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  room    text NOT NULL,
  during  tstzrange NOT NULL,
  CONSTRAINT bookings_no_overlap EXCLUDE USING gist (during WITH &&),
  CONSTRAINT bookings_not_empty CHECK (NOT isempty(during))
);
INSERT INTO app.bookings (room, during) VALUES
  ('A', '[2024-03-01 09:00+00, 2024-03-01 10:00+00)'),
  ('B', '[2024-03-01 10:00+00, 2024-03-01 11:30+00)'),
  ('C', '[2024-03-02 00:00+00,)');

------------------------------------------------------------------------------
-- Declarative partitioning: range (with default), list (with default),
-- two-level (list -> range), FK to a partitioned table
------------------------------------------------------------------------------
CREATE TABLE app.events (
  id        bigint NOT NULL,
  happened  date NOT NULL,
  kind      text NOT NULL,
  payload   jsonb,
  PRIMARY KEY (id, happened)
) PARTITION BY RANGE (happened);
CREATE TABLE app.events_2023 PARTITION OF app.events
  FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE app.events_2024 PARTITION OF app.events
  FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_default PARTITION OF app.events DEFAULT;
CREATE INDEX events_kind_idx ON app.events (kind);
COMMENT ON TABLE app.events IS 'Range-partitioned by date';

INSERT INTO app.events (id, happened, kind, payload)
SELECT i,
       date '2022-07-01' + (i * 3),
       (ARRAY['click', 'view', 'buy'])[1 + i % 3],
       jsonb_build_object('n', i)
FROM generate_series(1, 400) AS i;            -- spans 2022 .. 2025: all partitions

CREATE TABLE app.sales (
  region  text NOT NULL,
  sold_on date NOT NULL,
  amount  numeric(12,2) NOT NULL,
  CONSTRAINT sales_amount_check CHECK (amount <> 0)
) PARTITION BY LIST (region);
CREATE TABLE app.sales_eu PARTITION OF app.sales
  FOR VALUES IN ('de', 'fr', 'no')
  PARTITION BY RANGE (sold_on);
CREATE TABLE app.sales_eu_h1 PARTITION OF app.sales_eu
  FOR VALUES FROM (MINVALUE) TO ('2024-07-01');
CREATE TABLE app.sales_eu_h2 PARTITION OF app.sales_eu
  FOR VALUES FROM ('2024-07-01') TO (MAXVALUE);
CREATE TABLE app.sales_us PARTITION OF app.sales FOR VALUES IN ('us');
CREATE TABLE app.sales_other PARTITION OF app.sales DEFAULT;
CREATE UNIQUE INDEX sales_region_sold_on_amount_key ON app.sales (region, sold_on, amount);

INSERT INTO app.sales VALUES
  ('de', '2024-01-10', 100.00),
  ('fr', '2024-08-01', 250.50),
  ('no', '2024-06-30', -10.00),
  ('us', '2024-03-03', 999.99),
  ('jp', '2024-04-04', 1.00),
  ('br', '2023-12-31', 2.00);

CREATE TABLE app.event_notes (
  id          integer PRIMARY KEY,
  event_id    bigint NOT NULL,
  event_day   date NOT NULL,
  note        text,
  FOREIGN KEY (event_id, event_day) REFERENCES app.events (id, happened)
);
INSERT INTO app.event_notes VALUES (1, 1, '2022-07-04', 'note on 2022 event'),
                                   (2, 200, '2024-02-21', 'event in 2024'),
                                   (3, 400, '2025-10-13', 'event in the default partition');

------------------------------------------------------------------------------
-- Table inheritance
------------------------------------------------------------------------------
CREATE TABLE app.vehicles (
  id      integer PRIMARY KEY,
  maker   text NOT NULL,
  wheels  smallint NOT NULL DEFAULT 4,
  CONSTRAINT vehicles_wheels_check CHECK (wheels >= 0),
  CONSTRAINT vehicles_parent_only CHECK (id > 0) NO INHERIT
);
CREATE TABLE app.cars (
  seats smallint
) INHERITS (app.vehicles);
CREATE TABLE app.trucks (
  payload_t numeric(6,2)
) INHERITS (app.vehicles);
ALTER TABLE app.cars ADD PRIMARY KEY (id);

INSERT INTO app.vehicles (id, maker, wheels) VALUES (1, 'Generic', 3);
INSERT INTO app.cars (id, maker, seats) VALUES (10, 'Volvo', 5), (11, 'Škoda', 4);
INSERT INTO app.trucks (id, maker, wheels, payload_t) VALUES (20, 'MAN', 6, 18.5);
COMMENT ON TABLE app.cars IS 'Child table (INHERITS app.vehicles)';

------------------------------------------------------------------------------
-- Unlogged table, table without columns, table with only NULLs
------------------------------------------------------------------------------
CREATE UNLOGGED TABLE app.session_cache (
  key    text PRIMARY KEY,
  value  jsonb,
  hits   integer NOT NULL DEFAULT 0
);
INSERT INTO app.session_cache VALUES ('k1', '{"a":1}', 3), ('k2', NULL, 0);

CREATE TABLE app.no_columns ();
INSERT INTO app.no_columns DEFAULT VALUES;
INSERT INTO app.no_columns DEFAULT VALUES;

------------------------------------------------------------------------------
-- Quoted mixed-case names
------------------------------------------------------------------------------
CREATE TABLE "MixedCase"."Weird Table" (
  "Id"         integer PRIMARY KEY,
  "Col Name"   text,
  "select"     integer,
  "UPPER"      text,
  "with""quote" text,
  "ünï"        text
);
INSERT INTO "MixedCase"."Weird Table" VALUES
  (1, 'first', 10, 'A', 'q"1', 'ü'),
  (2, NULL, NULL, NULL, NULL, NULL),
  (3, 'Third Row', -1, 'C', '', 'ï');
CREATE INDEX "Weird Index" ON "MixedCase"."Weird Table" ("Col Name") WHERE "select" > 0;
COMMENT ON TABLE "MixedCase"."Weird Table" IS 'Table name with a space';
COMMENT ON COLUMN "MixedCase"."Weird Table"."Col Name" IS 'Column name with a space';

CREATE VIEW "MixedCase"."View Of Weird" AS
  SELECT "Id", "Col Name" FROM "MixedCase"."Weird Table" WHERE "Id" < 3;

------------------------------------------------------------------------------
-- Row-level security (ENABLE + FORCE, several policies)
------------------------------------------------------------------------------
CREATE TABLE app.documents (
  id          integer PRIMARY KEY,
  owner_name  name NOT NULL,
  visibility  text NOT NULL CHECK (visibility IN ('public', 'private')),
  title       text NOT NULL,
  body        text
);
INSERT INTO app.documents VALUES
  (1, 'pgv_reader', 'public',  'Public doc',   'everyone can read'),
  (2, 'pgv_writer', 'private', 'Writer notes', 'secret'),
  (3, 'postgres',   'private', 'Admin doc',    NULL);

ALTER TABLE app.documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE app.documents FORCE ROW LEVEL SECURITY;
CREATE POLICY documents_public_read ON app.documents
  FOR SELECT TO pgv_reader
  USING (visibility = 'public');
CREATE POLICY documents_owner_all ON app.documents
  AS PERMISSIVE FOR ALL TO pgv_writer
  USING (owner_name = current_user)
  WITH CHECK (owner_name = current_user);
CREATE POLICY documents_no_empty_title ON app.documents
  AS RESTRICTIVE FOR INSERT TO PUBLIC
  WITH CHECK (title <> '');
GRANT SELECT ON app.documents TO pgv_reader;
GRANT SELECT, INSERT, UPDATE, DELETE ON app.documents TO pgv_writer;
COMMENT ON POLICY documents_public_read ON app.documents IS 'Readers see public documents';

------------------------------------------------------------------------------
-- Triggers (row + statement, transition tables, constraint trigger)
------------------------------------------------------------------------------
CREATE TABLE audit.log (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_name text NOT NULL,
  operation  text NOT NULL,
  row_count  integer,
  detail     jsonb
);

CREATE FUNCTION audit.row_normalise() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  NEW.maker := btrim(NEW.maker);
  RETURN NEW;
END;
$$;

CREATE FUNCTION audit.stmt_log() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  n integer;
BEGIN
  SELECT count(*) INTO n FROM new_rows;
  INSERT INTO audit.log (table_name, operation, row_count, detail)
  VALUES (TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, TG_OP, n, jsonb_build_object('when', TG_WHEN, 'level', TG_LEVEL));
  RETURN NULL;
END;
$$;

CREATE FUNCTION audit.check_booking() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF upper_inf(NEW.during) AND NEW.room = 'X' THEN
    RAISE EXCEPTION 'room X cannot be booked open-ended';
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER vehicles_normalise
  BEFORE INSERT OR UPDATE OF maker ON app.vehicles
  FOR EACH ROW
  WHEN (NEW.maker IS NOT NULL)
  EXECUTE FUNCTION audit.row_normalise();

CREATE TRIGGER orders_stmt_audit
  AFTER INSERT ON app.orders
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT
  EXECUTE FUNCTION audit.stmt_log();

CREATE CONSTRAINT TRIGGER bookings_check
  AFTER INSERT OR UPDATE ON app.bookings
  DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW
  EXECUTE FUNCTION audit.check_booking();

-- row trigger on a partitioned table (cloned to the partitions)
CREATE FUNCTION audit.events_kind_lower() RETURNS trigger
LANGUAGE plpgsql
AS $$ BEGIN NEW.kind := lower(NEW.kind); RETURN NEW; END; $$;
CREATE TRIGGER events_kind_lower
  BEFORE INSERT ON app.events
  FOR EACH ROW EXECUTE FUNCTION audit.events_kind_lower();

-- a disabled trigger
CREATE TRIGGER vehicles_disabled_log
  AFTER DELETE ON app.vehicles
  REFERENCING OLD TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION audit.stmt_log();
ALTER TABLE app.vehicles DISABLE TRIGGER vehicles_disabled_log;

-- fire the triggers once so the audit table has data
INSERT INTO app.orders (customer_id, status, ordered_at, note) VALUES
  (130, 'new', '2024-05-05 05:05:05+00', 'inserted with trigger active'),
  (140, 'new', '2024-05-06 06:06:06+00', NULL);
INSERT INTO app.vehicles (id, maker) VALUES (2, '   Padded Maker   ');
COMMENT ON TRIGGER orders_stmt_audit ON app.orders IS 'Statement-level audit trigger';

------------------------------------------------------------------------------
-- Rules
------------------------------------------------------------------------------
CREATE TABLE audit.deleted_products (
  sku    text,
  title  text
);
CREATE RULE products_log_delete AS
  ON DELETE TO app.products
  DO ALSO INSERT INTO audit.deleted_products VALUES (OLD.sku, OLD.title);
INSERT INTO app.products (sku, title, price) VALUES ('SKU-099', 'Discontinued', 5);
DELETE FROM app.products WHERE sku = 'SKU-099';   -- fires the rule

------------------------------------------------------------------------------
-- Views, security-barrier view, view with rule, materialised views
------------------------------------------------------------------------------
CREATE VIEW app.customer_orders AS
  SELECT c.id AS customer_id, c.name, count(o.id) AS n_orders,
         app.pipe_concat(o.status::text ORDER BY o.id) AS statuses
  FROM app.customers c
  LEFT JOIN app.orders o ON o.customer_id = c.id
  GROUP BY c.id, c.name;
COMMENT ON VIEW app.customer_orders IS 'Customers with order counts';
COMMENT ON COLUMN app.customer_orders.n_orders IS 'Number of orders';

CREATE VIEW app.public_documents WITH (security_barrier = true) AS
  SELECT id, title FROM app.documents WHERE visibility = 'public';
GRANT SELECT ON app.public_documents TO pgv_reader;

CREATE VIEW app.active_customers AS
  SELECT id, name, email FROM app.customers WHERE active
  WITH LOCAL CHECK OPTION;

CREATE VIEW app.product_prices AS
  SELECT sku, title, app.add_vat(price, vat_rate / 100) AS gross
  FROM app.products;
CREATE RULE product_prices_ins AS
  ON INSERT TO app.product_prices
  DO INSTEAD INSERT INTO app.products (sku, title, price) VALUES (NEW.sku, NEW.title, NEW.gross);
INSERT INTO app.product_prices (sku, title, gross) VALUES ('SKU-005', 'Inserted through a rule', 42.00);

CREATE MATERIALIZED VIEW app.sensor_daily AS
  SELECT sensor, date_trunc('day', taken_at AT TIME ZONE 'UTC') AS day,
         count(*) AS n, avg(value) AS avg_value, app.product(1.0::numeric) AS one
  FROM app.measurements
  GROUP BY 1, 2
WITH DATA;
CREATE UNIQUE INDEX sensor_daily_key ON app.sensor_daily (sensor, day);
COMMENT ON MATERIALIZED VIEW app.sensor_daily IS 'Daily sensor aggregates';

CREATE MATERIALIZED VIEW app.sales_summary AS
  SELECT region, sum(amount) AS total FROM app.sales GROUP BY region
WITH NO DATA;

-- matview on matview
CREATE MATERIALIZED VIEW reporting.sensor_totals AS
  SELECT sensor, sum(n) AS n FROM app.sensor_daily GROUP BY sensor;
ALTER MATERIALIZED VIEW reporting.sensor_totals OWNER TO pgv_writer;
GRANT SELECT ON app.sensor_daily TO pgv_writer;

------------------------------------------------------------------------------
-- Procedures
------------------------------------------------------------------------------
CREATE TABLE app.counters (
  name  text PRIMARY KEY,
  value bigint NOT NULL DEFAULT 0
);
INSERT INTO app.counters VALUES ('hits', 0), ('misses', 7);

CREATE PROCEDURE app.bump_counter(p_name text, p_by integer DEFAULT 1)
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE app.counters SET value = value + p_by WHERE name = p_name;
  IF NOT FOUND THEN
    INSERT INTO app.counters (name, value) VALUES (p_name, p_by);
  END IF;
END;
$$;
COMMENT ON PROCEDURE app.bump_counter(text, integer) IS 'Increment a named counter';

CREATE PROCEDURE app.reset_counters()
LANGUAGE sql
AS $$ UPDATE app.counters SET value = 0 WHERE name LIKE 'tmp%' $$;

CALL app.bump_counter('hits', 41);
CALL app.bump_counter('hits');
CALL app.bump_counter('new-counter', 5);
GRANT EXECUTE ON PROCEDURE app.bump_counter(text, integer) TO pgv_writer;

------------------------------------------------------------------------------
-- pgcrypto data (deterministic functions only)
------------------------------------------------------------------------------
CREATE TABLE app.credentials (
  username   citext PRIMARY KEY,
  pw_hash    text NOT NULL,
  hmac       bytea NOT NULL,
  secret     bytea
);
INSERT INTO app.credentials VALUES
  ('Alice', crypto.crypt('wonderland', '$1$saltsalt'), crypto.hmac('alice', 'key', 'sha256'),
            crypto.encrypt('top secret', 'sixteen byte key', 'aes')),
  ('BOB',   crypto.crypt('builder', '$2a$06$abcdefghijklmnopqrstuu'), crypto.hmac('bob', 'key', 'sha1'), NULL);
REVOKE ALL ON app.credentials FROM pgv_reader;
GRANT SELECT (username) ON app.credentials TO pgv_reader;

------------------------------------------------------------------------------
-- Table owned by another role, in a schema owned by that role
------------------------------------------------------------------------------
CREATE TABLE reporting.kpi (
  name   text PRIMARY KEY,
  value  numeric
);
INSERT INTO reporting.kpi VALUES ('revenue', 1234.5), ('churn', -0.02), ('nothing', NULL);
ALTER TABLE reporting.kpi OWNER TO pgv_writer;

------------------------------------------------------------------------------
-- Large objects (fixed OIDs so the fixture is deterministic)
------------------------------------------------------------------------------
SELECT lo_from_bytea(424242, convert_to('Hello, large object! Grüße 🐘', 'UTF8'));
SELECT lo_from_bytea(424243,
  (SELECT string_agg(decode(md5(i::text), 'hex'), ''::bytea ORDER BY i) FROM generate_series(1, 20000) AS i));
SELECT lo_from_bytea(424244, ''::bytea);
COMMENT ON LARGE OBJECT 424242 IS 'A small large object';
GRANT SELECT ON LARGE OBJECT 424242 TO pgv_reader;
GRANT SELECT, UPDATE ON LARGE OBJECT 424243 TO pgv_writer;
ALTER LARGE OBJECT 424244 OWNER TO pgv_writer;

CREATE TABLE app.attachments (
  id      integer PRIMARY KEY,
  name    text NOT NULL,
  lo_oid  oid NOT NULL
);
INSERT INTO app.attachments VALUES (1, 'hello.txt', 424242), (2, 'random.bin', 424243), (3, 'empty', 424244);

------------------------------------------------------------------------------
-- Publications
------------------------------------------------------------------------------
CREATE PUBLICATION pgv_pub FOR TABLE app.customers, app.orders, app.order_lines;
CREATE PUBLICATION pgv_pub_filtered FOR TABLE app.products (sku, title, price) WHERE (price > 0)
  WITH (publish = 'insert');
CREATE PUBLICATION pgv_pub_schema FOR TABLES IN SCHEMA audit
  WITH (publish = 'insert');   -- insert-only: audit.deleted_products has no replica identity
COMMENT ON PUBLICATION pgv_pub IS 'Publication of the order tables';

------------------------------------------------------------------------------
-- Misc grants, ownership, comments
------------------------------------------------------------------------------
GRANT SELECT, INSERT, UPDATE ON app.orders TO pgv_writer;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO pgv_reader;
GRANT ALL ON app.counters TO pgv_writer WITH GRANT OPTION;
GRANT SELECT ON "MixedCase"."Weird Table" TO pgv_reader;
GRANT INSERT ("Col Name", "select") ON "MixedCase"."Weird Table" TO pgv_writer;
ALTER TABLE app.session_cache OWNER TO pgv_writer;
ALTER FUNCTION app.fib(integer) OWNER TO pgv_writer;
COMMENT ON FUNCTION app.fib(integer) IS 'Fibonacci numbers, owned by pgv_writer';
COMMENT ON INDEX app.customers_attrs_gin IS 'GIN index on hstore';
COMMENT ON CONSTRAINT bookings_no_overlap ON app.bookings IS 'No overlapping bookings';
COMMENT ON DOMAIN app.positive_int IS 'Strictly positive integer';

-- make planner statistics exist (not dumped, but harmless)
ANALYZE;
