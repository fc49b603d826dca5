-- Refresh the rate card lookup tables from rate_card_version / rate (run after a card is stored).
-- Each version's period [valid_from, valid_until): the latest effective_from wins ties (higher version);
-- the earliest card also covers all time before it.
CREATE OR REPLACE TABLE rate_card_period AS
WITH timeline AS (
  SELECT effective_from, max(version) AS version FROM rate_card_version GROUP BY effective_from
)
SELECT version, effective_from,
       CASE WHEN row_number() OVER (ORDER BY effective_from) = 1 THEN '-infinity'::TIMESTAMPTZ
            ELSE effective_from END AS valid_from,
       coalesce(lead(effective_from) OVER (ORDER BY effective_from), 'infinity'::TIMESTAMPTZ) AS valid_until
FROM timeline;

CREATE OR REPLACE TABLE rate_card_scalar AS
SELECT version,
       any_value(value) FILTER (WHERE key = 'electricity_usd_per_kwh') AS electricity_usd_per_kwh,
       any_value(value) FILTER (WHERE key = 'pue') AS pue,
       any_value(value) FILTER (WHERE key = 'grid_gco2e_per_kwh') AS grid_gco2e_per_kwh,
       any_value(basis) FILTER (WHERE key = 'grid_gco2e_per_kwh') AS grid_basis,
       any_value(value) FILTER (WHERE key = 'data_kwh_per_gb') AS data_kwh_per_gb,
       any_value(year) FILTER (WHERE key = 'data_kwh_per_gb') AS data_kwh_per_gb_year,
       coalesce(any_value(value) FILTER (WHERE key = 'data_kwh_per_gb_halving_years'), 0)
         AS data_kwh_per_gb_halving_years,
       any_value(value) FILTER (WHERE key = 'ram_watts_per_gb') AS ram_watts_per_gb,
       any_value(value) FILTER (WHERE key = 'storage_usd_per_gb_month') AS storage_usd_per_gb_month,
       any_value(value) FILTER (WHERE key = 'storage_kwh_per_gb_month') AS storage_kwh_per_gb_month,
       any_value(value) FILTER (WHERE key = 'storage_holding_months') AS storage_holding_months,
       any_value(value) FILTER (WHERE key = 'transfer_usd_per_gb') AS transfer_usd_per_gb
FROM rate WHERE subject = '' GROUP BY version;
