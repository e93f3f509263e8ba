-- The referrer columns of the panel (macro referrer_types) and the COD327 seed list the
-- same codes and labels: a code added to the seed needs its column too.
with macro_list as (
    {% for code, label in referrer_types() %}
    select '{{ code }}' as code, '{{ label }}' as label {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select coalesce(seed.code, macro_list.code) as code, seed.label as seed_label, macro_list.label as macro_label
from {{ ref('ijw_referrer_types') }} as seed
full outer join macro_list on macro_list.code = seed.code
where seed.code is null or macro_list.code is null or seed.label <> macro_list.label
