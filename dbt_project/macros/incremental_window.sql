{#- The first month an incremental fact must rebuild: the earliest month touched by any
    delivery that changed after the fact's last build (loaded_through), or everything
    when the pilot registry changed since (registry_version). Used as
    `where month >= {{ rebuild_from_month() }}` inside `if is_incremental()`.
    An enrolment delivered later can change an earlier exit (a transfer within
    transfer_grace_days is no dropout; an enrolment at a special school within
    special_education_referral_days makes the exit a referral to special education), so
    for a school export the rebuild starts that many days (in whole months, rounded up)
    before its earliest month (int_delivery_changes.changes_earlier_months); an iJw
    message only from its own.
    A date literal, queried when the model is built (dbt compiles a node just before it
    runs it): compared with a literal, the database skips the stored blocks of earlier
    months, which a comparison with the subquery itself does not (at the national pool a
    monthly rebuild of fct_youth_care_costs took 7.4-14.9 s with the subquery, 0.9-1.6 s
    with the literal). -#}
{% macro rebuild_from_month() %}
    {%- if execute -%}
        {%- set found = run_query('select ' ~ rebuild_from_month_sql() ~ ' as from_month') -%}
        {{- return("cast('" ~ found.columns[0].values()[0] ~ "' as date)") -}}
    {%- endif -%}
    {{- return(rebuild_from_month_sql()) -}}
{% endmacro %}

{#- rebuild_from_month's rule as a SQL expression. -#}
{% macro rebuild_from_month_sql() %}
    {%- set earliest_change -%}
        (select min(case when changes.changes_earlier_months
                         then {{ add_months('changes.first_month', -1 * (exit_lookback_months() | trim | int)) }}
                         else changes.first_month end)
         from {{ ref('int_delivery_changes') }} as changes
         -- an empty fact (nothing built yet) counts as built before any delivery
         where changes.changed_at > coalesce((select max(loaded_through) from {{ this }}), cast('1900-01-01' as timestamp)))
    {%- endset %}
    (
        select case
            when (select max(registry_version) from {{ this }}) is distinct from (select registry_version from {{ ref('int_registry_version') }})
                then cast('1900-01-01' as date)
            else coalesce({{ earliest_change }}, cast('9999-12-01' as date))
        end
    )
{% endmacro %}

{#- A filter for the rows of an incremental fact's source from the first month the build
    rebuilds (`from_month`: rebuild_from_month(), none in a full build); true in a full
    build. -#}
{% macro in_rebuilt_months(column, from_month) -%}
    {%- if from_month is not none -%}
        {{ column }} >= {{ from_month }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- Whole months (rounded up, plus one for the month boundary) covering the longest window
    in which a later enrolment still changes an exit. -#}
{% macro exit_lookback_months() -%}
    {{ ((([var('transfer_grace_days'), var('special_education_referral_days')] | max) + 29) // 30) + 1 }}
{%- endmacro %}

{#- Lineage columns every incremental fact carries: the registration time of the newest
    delivery its rows include, and the registry fingerprint they were built with. -#}
{% macro lineage_columns() %}
    (select max(changed_at) from {{ ref('int_delivery_changes') }}) as loaded_through,
    (select registry_version from {{ ref('int_registry_version') }}) as registry_version
{% endmacro %}

{#- The build stamp of an incremental model's rows: when the dbt invocation that wrote them
    started. Every write of a month (a rebuild, a full refresh) stamps all its rows anew, so
    the publication gate and the warehouse's build state hash only the months whose stamp
    changed since they last looked (pilotmonitor/part_digest.py), and leave the stamp out of
    the row hashes: a month rebuilt to the same content is the same content. -#}
{% macro build_stamp_column() %}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp) as built_at
{% endmacro %}

{#- How an incremental fact replaces the months it rebuilds (config(**incremental_by_month())).
    DuckDB and PostgreSQL: delete the fact's rows of every month among the new rows, then
    insert the new rows (delete+insert on unique_key month). Spark (dbt-spark on Parquet
    tables, which cannot delete rows): the fact is partitioned by month and the new rows
    overwrite the partitions of their months (insert_overwrite, dynamic partition
    overwrite): the same result. On Delta, Iceberg or Hudi tables `merge` on month would
    do as well. -#}
{% macro incremental_by_month() -%}
    {{ return(adapter.dispatch('incremental_by_month', 'pilotmonitor')()) }}
{%- endmacro %}

{% macro default__incremental_by_month() -%}
    {{ return({'incremental_strategy': 'delete+insert', 'unique_key': 'month'}) }}
{%- endmacro %}

{% macro spark__incremental_by_month() -%}
    {{ return({'incremental_strategy': 'insert_overwrite', 'partition_by': ['month']}) }}
{%- endmacro %}
