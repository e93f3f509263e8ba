-- The kind columns of the panel (macro kinds_of_care) and the kinds the JZ020 seed maps
-- product categories to are the same set: a kind added to the seed needs its columns, and
-- a column without a category would stay zero for ever. Doubles as the accepted-values
-- test of ijw_product_categories.kind_of_care.
with macro_list as (
    {% for kind in kinds_of_care() %}
    select '{{ kind }}' as kind_of_care {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

seed as (
    select distinct kind_of_care from {{ ref('ijw_product_categories') }}
)

select coalesce(seed.kind_of_care, macro_list.kind_of_care) as kind_of_care,
       seed.kind_of_care is not null as in_seed,
       macro_list.kind_of_care is not null as in_macro
from seed
full outer join macro_list on macro_list.kind_of_care = seed.kind_of_care
where seed.kind_of_care is null or macro_list.kind_of_care is null
