-- The schools taking part in each pilot (BRIN + vestiging).
select pilot_id, school_id, brin, vestiging, school_name
from {{ source('raw', 'pilot_schools') }}
