{#- Date helpers in portable SQL, on top of dbt's cross-database macros, so the models
    run on DuckDB (embedded default) and on a server database such as PostgreSQL. -#}

{% macro month_start(expression) -%}
    cast({{ dbt.date_trunc('month', expression) }} as date)
{%- endmacro %}

{% macro month_end(expression) -%}
    cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, month_start(expression))) }} as date)
{%- endmacro %}

{% macro add_months(expression, months) -%}
    cast({{ dbt.dateadd('month', months, expression) }} as date)
{%- endmacro %}

{% macro add_days(expression, days) -%}
    cast({{ dbt.dateadd('day', days, expression) }} as date)
{%- endmacro %}

{#- Whole months between two month starts (b - a). -#}
{% macro months_between(a, b) -%}
    ((extract(year from {{ b }}) - extract(year from {{ a }})) * 12 + extract(month from {{ b }}) - extract(month from {{ a }}))
{%- endmacro %}

{#- Days from a to b inclusive of both ends. -#}
{% macro days_inclusive(a, b) -%}
    ({{ dbt.datediff(a, b, 'day') }} + 1)
{%- endmacro %}

{#- iJw municipality codes are four digits ('0014'); the warehouse uses CBS region keys ('GM0014'). -#}
{% macro municipality_key(expression) -%}
    {#- cast: PostgreSQL types the concatenation text, the contracts varchar #}
    cast(case when {{ expression }} like 'GM%' then {{ expression }} else 'GM' || lpad({{ expression }}, 4, '0') end as {{ type_varchar() }})
{%- endmacro %}

{#- The school year (1 August - 31 July) a date falls in, named by its first calendar year. -#}
{% macro school_year(expression) -%}
    cast(case when extract(month from {{ expression }}) >= 8 then extract(year from {{ expression }}) else extract(year from {{ expression }}) - 1 end as integer)
{%- endmacro %}

{#- The convenantjaar (1 October - 1 October) of DUO's VSV figures a date falls in, named by its first year. -#}
{% macro convenant_year(expression) -%}
    cast(case when extract(month from {{ expression }}) >= 10 then extract(year from {{ expression }}) else extract(year from {{ expression }}) - 1 end as integer)
{%- endmacro %}

{#- A month spine: every month from the month of first_date through last_date, both columns
    of the one-row relation bounds (none when first_date is null). A recursive CTE by
    default; Spark SQL (3.5) has no recursive CTEs and generates the series instead. -#}
{% macro month_spine(bounds, first_date, last_date) -%}
    {{ return(adapter.dispatch('month_spine', 'pilotmonitor')(bounds, first_date, last_date)) }}
{%- endmacro %}

{% macro default__month_spine(bounds, first_date, last_date) -%}
    with recursive spine (month) as (
        select {{ month_start(first_date) }} from {{ bounds }} where {{ first_date }} is not null
        union all
        select {{ add_months('month', 1) }} from spine, {{ bounds }} where {{ add_months('month', 1) }} <= {{ last_date }}
    )
    select month from spine
{%- endmacro %}

{#- greatest() skips a null last_date, so the first month is there as in the recursive form. -#}
{% macro spark__month_spine(bounds, first_date, last_date) -%}
    select explode(sequence({{ month_start(first_date) }}, greatest({{ month_start(first_date) }}, cast({{ last_date }} as date)), interval 1 month)) as month
    from {{ bounds }}
    where {{ first_date }} is not null
{%- endmacro %}
