{#- The header every iJw message row starts with in staging (JW315, JW301, JW305, JW307,
    JW323): where the row came from (delivery_id, row_locator, delivery_registered_at),
    the message (message_id and any further message keys, such as JW323's
    declaration_number), the provider's AGB code, the municipality as a CBS key (GM####,
    municipality_key), the message's date as a date, and the client's pseudonym. A model
    lists its own columns after it:

        select
            {{ ijw_message_header(date_as='request_date') }},
            provider_reference,
            ...

    relation_alias qualifies the columns (for a model that joins); date_column is the raw
    date column and date_as its name in staging (default the same). -#}
{% macro ijw_message_header(relation_alias=none, date_column='message_date', date_as=none, message_keys=[]) -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    {{ prefix }}delivery_id,
    {{ prefix }}row_locator,
    {{ prefix }}delivery_registered_at,
    {{ prefix }}message_id,
    {%- for key in message_keys %}
    {{ prefix }}{{ key }},
    {%- endfor %}
    {{ prefix }}provider_agb,
    {{ municipality_key(prefix ~ 'municipality_code') }} as municipality_code,
    cast({{ prefix }}{{ date_column }} as date) as {{ date_as or date_column }},
    {{ prefix }}client_pseudonym
{%- endmacro %}
