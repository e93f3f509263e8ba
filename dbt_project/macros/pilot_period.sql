{#- The pilot period, written once: a month is in a pilot's period from the month of its
    start up to and including its planned end (open-ended while planned_end_date is
    null). Whole months: the month the pilot starts in is its first treated month (event
    time 0, dim_pilot.first_treated_month). `month` is a month start; `pilots` the alias of
    a relation with start_date and planned_end_date. -#}
{% macro in_pilot_period(month, pilots) -%}
    ({{ month }} >= {{ month_start(pilots ~ '.start_date') }} and ({{ pilots }}.planned_end_date is null or {{ month }} <= {{ pilots }}.planned_end_date))
{%- endmacro %}

{#- Event time: whole months from the pilot's first treated month to `month` (negative before). -#}
{% macro pilot_event_time(month, pilots) -%}
    cast({{ months_between(month_start(pilots ~ '.start_date'), month) }} as integer)
{%- endmacro %}
