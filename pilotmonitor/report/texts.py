"""Every word of the policymaker report, Dutch first and English second.

Numbers are written the way readers of each language expect (``2,3`` in Dutch, ``2.3`` in
English). Plain-words sentences are built from an effect on an absolute scale ("per 100
pupils per year") so a reader does not need to know what an incidence-rate ratio is.
"""

from __future__ import annotations

import math

from pilotmonitor.evaluation.outcomes import LANGUAGES, OUTCOMES

# the readers' outcome names come from the one outcome registry
OUTCOME_NAMES = {lang: {name: o.label[lang] for name, o in OUTCOMES.items()} for lang in LANGUAGES}

# unit of the absolute effect per outcome, per language
UNITS = {
    "nl": {
        "per100": "per 100 leerlingen per jaar",
        "hours": "uur per leerling per jaar",
        "eur": "per leerling per jaar",
        "points": "punt (gemiddelde schaalscore)",
    },
    "en": {
        "per100": "per 100 pupils per year",
        "hours": "hours per pupil per year",
        "eur": "per pupil per year",
        "points": "points (mean scale score)",
    },
}

T = {
    "nl": {
        "title": "Pilotmonitor: {name}",
        "subtitle": "Rapport voor bestuurders en beleidsmakers, {municipality}",
        "synthetic_banner": (
            "SYNTHETISCHE DATA: alle scholen, personen en getallen in dit rapport zijn verzonnen. "
            "Gebruik het niet voor beslissingen."
        ),
        "interim": (
            "Tussentijds resultaat: de pilot loopt nog (gepland tot {end}); {observed} van de "
            "{planned} pilotmaanden zitten in de data."
        ),
        "interim_open": (
            "Tussentijds resultaat: de pilot loopt nog (geen einddatum gepland); {observed} "
            "pilotmaanden zitten in de data."
        ),
        "final": "Eindresultaat: de pilot is afgerond ({start} tot en met {end}).",
        "answers": "Het antwoord in gewone woorden",
        "primary_goal": "Hoofddoel",
        "secondary_goals": "Andere doelen",
        "decrease": "daalde",
        "increase": "steeg",
        "change_none": "veranderde nauwelijks",
        "sentence": (
            "{What} {verb} met {amount} {unit} ({pct} ten opzichte van wat zonder de pilot te "
            "verwachten was)."
        ),
        "sentence_points": "{What} {verb} met {amount} {unit}.",
        "uncertainty": (
            "De onzekerheid is {size}: het effect ligt met 95% zekerheid tussen {low} en {high}."
        ),
        "size_small": "beperkt",
        "size_large": "groot",
        "evidence_strong": (
            "Toeval is een onwaarschijnlijke verklaring (p = {p}; toets die rekening houdt met "
            "het kleine aantal scholen)."
        ),
        "evidence_weak": (
            "Dit kan ook toeval zijn (p = {p}; toets die rekening houdt met het kleine aantal "
            "scholen)."
        ),
        "not_estimable": "{What}: geen betrouwbare schatting mogelijk ({why}).",
        "baseline": "Vóór de pilot: {value} {unit} op de pilotscholen.",
        "fewer": "{x} minder",
        "more": "{x} meer",
        "charts": "Grafieken",
        "trend_title": (
            "Nieuwe verwijzingen naar jeugdhulp per 100 leerlingen per jaar, per half jaar"
        ),
        "trend_caption": (
            "Pilotscholen tegenover vergelijkingsscholen, ook in de jaren vóór de pilot waarop de "
            "vergelijking steunt. De stippellijn is de start van de pilot."
        ),
        "pilot_schools": "pilotscholen",
        "comparison_schools": "vergelijkingsscholen",
        "pilot_start": "start pilot",
        "pilot_end": "einde pilot",
        "event_title": (
            "Verschil in verwijzingen rond de start (per 100 leerlingmaanden, per half jaar)"
        ),
        "event_caption": (
            "Verschil tussen pilot- en vergelijkingsscholen ten opzichte van het halfjaar vóór de "
            "start, met 95%-intervallen. Vóór de start horen de punten rond nul te liggen."
        ),
        "event_x": "halfjaren ten opzichte van de start",
        "event_y": "verschil",
        "forest_title": "Effecten op alle uitkomsten (procentuele verandering, 95%-interval)",
        "forest_caption": (
            "Links van de nul: minder dan verwacht; rechts: meer. Bij klimaat en tevredenheid is "
            "meer beter."
        ),
        "forest_x": "verandering ten opzichte van verwacht (%)",
        "costs_title": "Kosten van de pilot tegenover vermeden jeugdhulpkosten",
        "costs_caption": (
            "Vermeden kosten zijn geschat met een onzekerheidsmarge (95%); de pilotkosten zijn de "
            "gerealiseerde kosten."
        ),
        "pilot_cost": "kosten pilot",
        "avoided_cost": "vermeden jeugdhulpkosten",
        "costs_sentence": (
            "De pilot kostte {cost}. De geschatte vermeden jeugdhulpkosten zijn {avoided} (95%: "
            "{low} tot {high}). De kans dat de pilot zich terugverdient is volgens deze "
            "schatting {prob}."
        ),
        "costs_missing": "Een kostenvergelijking is niet beschikbaar: {why}.",
        "dose_title": "Inzet van de jeugdondersteuners: activiteiten per maand",
        "dose_caption": (
            "Contacten met leerlingen en ouders, groepsbijeenkomsten en consultaties, opgeteld "
            "over de pilotscholen."
        ),
        "dose_y": "activiteiten per maand",
        "cost_table_title": "Gedeclareerde jeugdhulpkosten per leerling per jaar",
        "year": "jaar",
        "group": "groep",
        "limits": "Wat dit onderzoek wel en niet kan laten zien",
        "limit_schools": (
            "De pilot loopt op {n_treated} scholen, vergeleken met {n_comparison} vergelijkbare "
            "scholen. Met zo weinig scholen zijn de schattingen onzeker; de p-waarden komen uit "
            "toetsen die daarmee rekening houden (wild cluster bootstrap en herverdeling van de "
            "pilot over scholen)."
        ),
        "limit_mde": (
            "Met deze opzet kan een daling van de verwijzingen pas vanaf ongeveer {mde} met 80% "
            "kans worden aangetoond (minimaal aantoonbaar effect). Kleinere effecten kunnen "
            "bestaan zonder dat dit onderzoek ze ziet."
        ),
        "limit_design_mde": (
            "Vooraf, alleen op grond van de jaren vóór de pilot (aantal scholen, leerlingen en "
            "verwijzingen), was het verwachte minimaal aantoonbare effect een daling van "
            "ongeveer {mde}."
        ),
        "limit_interim": (
            "Dit is een tussenstand: effecten kunnen in de rest van de pilot groter of kleiner "
            "worden."
        ),
        "limit_final": "De pilotperiode is volledig in de data opgenomen.",
        "limit_closures": (
            "In 2020 en begin 2021 waren de scholen (deels) dicht door corona. Zonder die maanden "
            "is het effect op verwijzingen: {value}."
        ),
        "limit_no_closures": (
            "De coronasluitingen van 2020-21 vallen buiten de analyseperiode van deze pilot."
        ),
        "limit_youth_care_data": (
            "Jeugdhulp staat pas sinds de decentralisatie van 1 januari 2015 in de iJw-berichten; "
            "eerdere jaren zijn er niet in te vinden. De analyseperiode begint daarom niet vóór "
            "{data_from} (in dit rapport: vanaf {window_start})."
        ),
        "limit_pretrend_ok": (
            "Vóór de start ontwikkelden pilot- en vergelijkingsscholen zich vergelijkbaar (vooraf "
            "vastgelegde toets, p = {p}); dat maakt de vergelijking geloofwaardiger."
        ),
        "limit_pretrend_bad": (
            "Let op: vóór de start liepen pilot- en vergelijkingsscholen al uiteen (vooraf "
            "vastgelegde toets, p = {p}). Het effect kan daardoor over- of onderschat zijn."
        ),
        "limit_pretrend_none": "Een toets op verschillen vóór de start was niet mogelijk ({why}).",
        "limit_causal": (
            "Het onderzoek vergelijkt scholen, geen individuele leerlingen. Het laat zien wat er "
            "op pilotscholen veranderde ten opzichte van vergelijkbare scholen, niet waardoor "
            "precies."
        ),
        "quality": "Kwaliteit van de gegevens",
        "quality_ok": (
            "Alle blokkerende controles op de gegevens waren in orde bij de laatste publicatie "
            "({published})."
        ),
        "quality_stale": (
            "Let op: nieuwere gegevens zijn tegengehouden door controles ({reasons}); dit rapport "
            "gebruikt de laatst goedgekeurde gegevens ({published})."
        ),
        "quality_rows": (
            "{deliveries} leveringen verwerkt; {loaded} regels geladen en {quarantined} regels "
            "apart gezet met een reden."
        ),
        "disclosure": "Bescherming van privacy",
        "disclosure_text": (
            "Elke tabel en grafiek is vóór publicatie gecontroleerd op herleidbaarheid (minimaal "
            "{threshold} per cel, dominantie, vrijheidsgraden van modellen). Onderdrukte cellen "
            "zijn als 'onderdrukt' weergegeven. Uitkomst: {status}."
        ),
        "suppressed": "onderdrukt",
        "withheld": "Niet gepubliceerd door de privacycontrole: {why}",
        "provenance": "Herkomst",
        "provenance_text": (
            "Gegevens {first} tot en met {last}; analyse-run {run}; code {code}; analyseplan "
            "{plan}; invoer {input}; seed {seed}; gemaakt {made}."
        ),
        "status_pass": "alles in orde",
        "status_review": "cellen onderdrukt, door een controleur te bekijken",
        "status_fail": "onderdelen tegengehouden",
        "page": "pagina",
        "estimate_table": "Alle schattingen",
        "col_outcome": "uitkomst",
        "col_estimate": "schatting",
        "col_ci": "95%-interval",
        "col_p": "p (weinig scholen)",
        "col_p_adj": "p (gecorrigeerd)",
        "round_title": "Wat is er veranderd sinds de vorige ronde",
        "round_intro": (
            "Evaluatieronde {name} van de leercyclus: bevroren op peildatum {as_of} (gegevens tot "
            "en met {through}, run {run}). Vorige ronde: {previous} (peildatum {previous_as_of})."
        ),
        "round_first": (
            "Evaluatieronde {name} van de leercyclus: bevroren op peildatum {as_of} (gegevens tot "
            "en met {through}, run {run}). Dit is de eerste ronde van deze pilot: er is nog "
            "niets om mee te vergelijken."
        ),
        "round_estimates": "Schattingen van beide rondes naast elkaar",
        "round_col_previous": "vorige ronde: {name}",
        "round_col_this": "deze ronde: {name}",
        "round_not_estimable": "geen schatting ({why})",
        "round_data": "Toegevoegde gegevens",
        "round_col_round": "ronde",
        "round_col_through": "gegevens t/m",
        "round_col_pilot_months": "pilotmaanden",
        "round_col_school_months": "schoolmaanden",
        "round_col_pupil_months": "leerlingmaanden",
        "round_added": "toegevoegd",
        "round_plan": "Wijzigingen in het analyseplan",
        "round_plan_same": "Het analyseplan is niet veranderd (plan-hash {hash}).",
        "round_plan_changed": (
            "{n} parameter(s) van het analyseplan veranderd (plan-hash {old} naar {new}):"
        ),
        "round_plan_none": (
            "Geen vorige ronde: er is geen plan om mee te vergelijken (plan-hash {hash})."
        ),
        "other_language": "English version",
    },
    "en": {
        "title": "Pilotmonitor: {name}",
        "subtitle": "Report for administrators and policymakers, {municipality}",
        "synthetic_banner": (
            "SYNTHETIC DATA: every school, person and number in this report is invented. Do not "
            "use it for decisions."
        ),
        "interim": (
            "Interim result: the pilot is still running (planned until {end}); {observed} of "
            "{planned} pilot months are in the data."
        ),
        "interim_open": (
            "Interim result: the pilot is still running (no planned end); {observed} pilot months "
            "are in the data."
        ),
        "final": "Final result: the pilot has ended ({start} to {end}).",
        "answers": "The answer in plain words",
        "primary_goal": "Main goal",
        "secondary_goals": "Other goals",
        "decrease": "fell",
        "increase": "rose",
        "change_none": "hardly changed",
        "sentence": (
            "{What} {verb} by {amount} {unit} ({pct} compared with what was expected without the "
            "pilot)."
        ),
        "sentence_points": "{What} {verb} by {amount} {unit}.",
        "uncertainty": (
            "The uncertainty is {size}: with 95% confidence the effect lies between {low} and "
            "{high}."
        ),
        "size_small": "limited",
        "size_large": "large",
        "evidence_strong": (
            "Chance is an unlikely explanation (p = {p}; a test that accounts for the small "
            "number of schools)."
        ),
        "evidence_weak": (
            "This could also be chance (p = {p}; a test that accounts for the small number of "
            "schools)."
        ),
        "not_estimable": "{What}: no reliable estimate is possible ({why}).",
        "baseline": "Before the pilot: {value} {unit} at the pilot schools.",
        "fewer": "{x} fewer",
        "more": "{x} more",
        "charts": "Charts",
        "trend_title": "New referrals to youth care per 100 pupils per year, by half-year",
        "trend_caption": (
            "Pilot schools against comparison schools, including the years before the pilot that "
            "the comparison relies on. The dashed line marks the start of the pilot."
        ),
        "pilot_schools": "pilot schools",
        "comparison_schools": "comparison schools",
        "pilot_start": "pilot start",
        "pilot_end": "pilot end",
        "event_title": (
            "Difference in referrals around the start (per 100 pupil-months, by half-year)"
        ),
        "event_caption": (
            "Difference between pilot and comparison schools relative to the half-year before the "
            "start, with 95% intervals. Before the start the points should lie around zero."
        ),
        "event_x": "half-years relative to the start",
        "event_y": "difference",
        "forest_title": "Effects on all outcomes (percentage change, 95% interval)",
        "forest_caption": (
            "Left of zero: less than expected; right: more. For climate and satisfaction more is "
            "better."
        ),
        "forest_x": "change compared with expected (%)",
        "costs_title": "Pilot cost against avoided youth-care costs",
        "costs_caption": (
            "Avoided costs are estimated with a 95% uncertainty margin; the pilot cost is the "
            "realised cost."
        ),
        "pilot_cost": "pilot cost",
        "avoided_cost": "avoided youth-care costs",
        "costs_sentence": (
            "The pilot cost {cost}. The estimated avoided youth-care costs are {avoided} (95%: "
            "{low} to {high}). By this estimate the chance that the pilot pays for itself is "
            "{prob}."
        ),
        "costs_missing": "No cost comparison is available: {why}.",
        "dose_title": "Youth support workers' activity per month",
        "dose_caption": (
            "Contacts with pupils and parents, group sessions and consultations, summed over the "
            "pilot schools."
        ),
        "dose_y": "activities per month",
        "cost_table_title": "Declared youth-care costs per pupil per year",
        "year": "year",
        "group": "group",
        "limits": "What this study can and cannot show",
        "limit_schools": (
            "The pilot runs at {n_treated} schools, compared with {n_comparison} similar schools. "
            "With so few schools the estimates are uncertain; the p-values come from tests that "
            "account for this (wild cluster bootstrap and re-assigning the pilot to other "
            "schools)."
        ),
        "limit_mde": (
            "With this design a fall in referrals can only be shown with 80% probability from "
            "about {mde} (minimal detectable effect). Smaller effects may exist without this "
            "study seeing them."
        ),
        "limit_design_mde": (
            "Before the pilot, from the years before it alone (number of schools, pupils and "
            "referrals), the expected minimal detectable effect was a fall of about {mde}."
        ),
        "limit_interim": (
            "This is an interim result: effects may grow or shrink in the rest of the pilot."
        ),
        "limit_final": "The whole pilot period is in the data.",
        "limit_closures": (
            "In 2020 and early 2021 schools were (partly) closed because of COVID-19. Without "
            "those months the effect on referrals is: {value}."
        ),
        "limit_no_closures": (
            "The 2020-21 school closures fall outside this pilot's analysis period."
        ),
        "limit_youth_care_data": (
            "Youth care is in iJw messages only since the decentralisation of 1 January 2015; "
            "earlier years are not in them. The analysis period therefore starts no earlier than "
            "{data_from} (in this report: from {window_start})."
        ),
        "limit_pretrend_ok": (
            "Before the start, pilot and comparison schools developed alike (pre-registered test, "
            "p = {p}); that makes the comparison more credible."
        ),
        "limit_pretrend_bad": (
            "Note: before the start, pilot and comparison schools were already drifting apart "
            "(pre-registered test, p = {p}). The effect may be over- or underestimated."
        ),
        "limit_pretrend_none": "A test for differences before the start was not possible ({why}).",
        "limit_causal": (
            "The study compares schools, not individual pupils. It shows what changed at pilot "
            "schools relative to similar schools, not exactly why."
        ),
        "quality": "Data quality",
        "quality_ok": "All blocking data checks passed at the latest publication ({published}).",
        "quality_stale": (
            "Note: newer data were held back by checks ({reasons}); this report uses the latest "
            "approved data ({published})."
        ),
        "quality_rows": (
            "{deliveries} deliveries processed; {loaded} rows loaded and {quarantined} rows set "
            "aside with a reason."
        ),
        "disclosure": "Privacy protection",
        "disclosure_text": (
            "Every table and chart was checked for disclosure risk before publication (at least "
            "{threshold} per cell, dominance, model degrees of freedom). Suppressed cells are "
            "shown as 'suppressed'. Outcome: {status}."
        ),
        "suppressed": "suppressed",
        "withheld": "Withheld by disclosure control: {why}",
        "provenance": "Provenance",
        "provenance_text": (
            "Data {first} to {last}; analysis run {run}; code {code}; analysis plan {plan}; input "
            "{input}; seed {seed}; made {made}."
        ),
        "status_pass": "all clear",
        "status_review": "cells suppressed, for an output checker to review",
        "status_fail": "parts withheld",
        "page": "page",
        "estimate_table": "All estimates",
        "col_outcome": "outcome",
        "col_estimate": "estimate",
        "col_ci": "95% interval",
        "col_p": "p (few schools)",
        "col_p_adj": "p (adjusted)",
        "round_title": "What changed since the previous round",
        "round_intro": (
            "Evaluation round {name} of the learning cycle: frozen as of {as_of} (data to "
            "{through}, run {run}). Previous round: {previous} (as of {previous_as_of})."
        ),
        "round_first": (
            "Evaluation round {name} of the learning cycle: frozen as of {as_of} (data to "
            "{through}, run {run}). This is the pilot's first round: there is nothing to compare "
            "with yet."
        ),
        "round_estimates": "Both rounds' estimates side by side",
        "round_col_previous": "previous round: {name}",
        "round_col_this": "this round: {name}",
        "round_not_estimable": "no estimate ({why})",
        "round_data": "Data added",
        "round_col_round": "round",
        "round_col_through": "data to",
        "round_col_pilot_months": "pilot months",
        "round_col_school_months": "school-months",
        "round_col_pupil_months": "pupil-months",
        "round_added": "added",
        "round_plan": "Changes to the analysis plan",
        "round_plan_same": "The analysis plan did not change (plan hash {hash}).",
        "round_plan_changed": (
            "{n} parameter(s) of the analysis plan changed (plan hash {old} to {new}):"
        ),
        "round_plan_none": "No previous round: no plan to compare with (plan hash {hash}).",
        "other_language": "Nederlandse versie",
    },
}


def number(value: float, lang: str, digits: int = 1) -> str:
    """A number in the reader's convention: 1.234,5 (nl) or 1,234.5 (en)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    text = f"{value:,.{digits}f}"
    if lang == "nl":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def euros(value: float, lang: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    sign = "-" if value < 0 else ""
    return (
        f"{sign}€ {number(abs(value), lang, 0)}"
        if lang == "nl"
        else f"{sign}EUR {number(abs(value), lang, 0)}"
    )


def percent(value: float, lang: str, digits: int = 0, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    text = number(abs(value), lang, digits) + "%"
    if signed:
        text = ("-" if value < 0 else "+") + text
    return text


def p_value(value: float, lang: str) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if value < 0.001:
        return "< " + number(0.001, lang, 3)
    return number(value, lang, 3)


def month(value, lang: str) -> str:
    names = {
        "nl": ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
        "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    }[lang]
    return f"{names[value.month - 1]} {value.year}"
