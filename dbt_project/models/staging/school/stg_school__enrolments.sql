-- One row per enrolment record in a current school export. The same enrolment appears in
-- the export of every school year it overlaps; int_enrolment_spells keeps one per spell.
with source_rows as (
    {{ current_rows('school_enrolments') }}
)

select
    delivery_id,
    row_locator,
    delivered_on,
    pupil_pseudonym,
    id_kind as identifier_kind,
    key_version,
    school_id,
    brin,
    vestiging,
    cast(birth_month as date) as birth_month,
    -- cast: a case of literals is text on PostgreSQL, the contracts say varchar
    cast(case sex when 'M' then 'male' when 'V' then 'female' when 'X' then 'other' else 'unknown' end as {{ type_varchar() }}) as sex,
    postcode4,
    school_group,
    cast(enrol_start as date) as enrol_start,
    cast(enrol_end as date) as enrol_end,
    nullif(trim(destination), '') as destination,
    -- an export without the column lists main enrolments only
    coalesce(enrolment_kind, 'main') as enrolment_kind
from source_rows
