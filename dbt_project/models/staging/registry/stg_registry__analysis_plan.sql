-- The pre-registered analysis plan: primary and secondary outcomes and estimators.
select pilot_id, kind, value, position
from {{ source('raw', 'pilot_plan') }}
