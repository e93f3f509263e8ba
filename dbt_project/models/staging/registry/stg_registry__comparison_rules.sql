-- Comparison pool rules: a school is in the pool when it matches every dimension the
-- pilot names (school_type, province code, cluster), or is listed explicitly (school).
select pilot_id, dimension, value
from {{ source('raw', 'pilot_comparison_rules') }}
