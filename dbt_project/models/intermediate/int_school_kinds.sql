-- Each school site's type with its sector and whether it is special education, from the
-- DUO registry and the seed school_types: the one join every model uses for it.
select
    duo.school_id,
    duo.school_type,
    types.sector as school_sector,
    types.is_special_education
from {{ ref('stg_duo__schools') }} as duo
inner join {{ ref('school_types') }} as types on types.code = duo.school_type
