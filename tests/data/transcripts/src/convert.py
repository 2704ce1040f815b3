#!/usr/bin/env python3
"""Builds the calibration transcripts (tests/data/transcripts/*.json) from their compact sources
here (src/*.txt) and checks each against its scenario card: a fact only after one of its trigger
phrases in the preceding candidate turn, the card's answer verbatim, on_start cues first,
after_topic cues after their topic, after_seconds cues at or after their time, the closing line
last. Word timings and confidences for voice sessions are synthesised deterministically.

    python3 tests/data/transcripts/src/convert.py tests/data/transcripts/src/*.txt

Source format: a header (scenario, mode, level, group, flags, expected lo-hi per criterion,
reasoning), a line '---', then one turn a line: 'C | text' for the candidate ('~' marks a long
pause in voice; 'C interrupt |' starts before the patient has finished) and
'P fact:topic,topic cue:i kind:k at:seconds [cut] [closing] | text' for the patient (an empty
text is filled from the card)."""
import json, re, sys, os, hashlib, glob

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN = os.path.normpath(os.path.join(HERE, '..', '..', '..', '..', 'data', 'scenarios'))
OUT = os.path.normpath(os.path.join(HERE, '..'))
CRIT = ['intelligibility','fluency','appropriateness','grammar_expression','relationship_building',
        'patient_perspective','providing_structure','information_gathering','information_giving']

def norm(s):
    return s.lower().replace('\u2019', "'").replace('\u2018', "'")

def syllables(w):
    w = re.sub(r'[^a-z]', '', w.lower())
    if not w: return 1
    groups = re.findall(r'[aeiouy]+', w)
    n = len(groups)
    if w.endswith('e') and n > 1: n -= 1
    return max(1, n)

def h(*parts):
    return int(hashlib.sha1('|'.join(map(str, parts)).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

def make_words(text, level, role, seed, lowconf_extra=0.0):
    """Word timings for one turn: returns (words, duration_s). '~' marks a long pause."""
    words, t = [], 0.25
    base = {'strong': 0.94, 'adequate': 0.86, 'weak': 0.74}.get(level, 0.86)
    if role == 'patient': base = 0.99
    toks = text.split()
    for i, raw in enumerate(toks):
        if raw == '~':
            t += 1.1 if level == 'weak' else 0.8
            continue
        w = re.sub(r"^[^\w']+|[^\w']+$", '', raw)
        if not w: continue
        dur = 0.12 + 0.1 * syllables(w)
        if role == 'candidate' and level == 'weak': dur *= 1.25
        if role == 'candidate' and level == 'strong': dur *= 0.9
        conf = base + (h(seed, i) - 0.5) * (0.10 if role == 'candidate' else 0.0)
        if role == 'candidate' and level == 'weak' and h(seed, i, 'low') < 0.22 + lowconf_extra:
            conf = 0.38 + 0.2 * h(seed, i, 'c')
        if role == 'candidate' and level == 'adequate' and h(seed, i, 'low') < 0.07:
            conf = 0.5 + 0.08 * h(seed, i, 'c')
        if w.lower() in ('um', 'uh', 'er', 'erm'):
            dur = 0.35; conf = min(conf, 0.8)
        words.append({'w': w.lower(), 'start': round(t, 2), 'end': round(t + dur, 2),
                      'conf': round(max(0.05, min(1.0, conf)), 2)})
        t += dur
        gap = 0.07
        if raw[-1] in ',;:': gap = 0.22
        if raw[-1] in '.?!': gap = 0.42 if level != 'strong' else 0.35
        if role == 'candidate' and level == 'weak' and raw[-1] not in '.?!' and h(seed, i, 'p') < 0.12:
            gap = 0.55 + 0.5 * h(seed, i, 'g')
        t += gap
    return words, (words[-1]['end'] if words else 0.0)

def convert(path):
    src = open(path).read()
    head, body = src.split('\n---\n', 1)
    meta = {}
    for line in head.strip().split('\n'):
        k, v = line.split(':', 1)
        meta[k.strip()] = v.strip()
    slug = meta['scenario']
    card = json.load(open(f'{SCEN}/{slug}.json'))
    pc = card['patient_card']
    facts = {f['topic']: f for f in pc['facts']}
    mode = meta.get('mode', 'text')
    level = meta['level']
    asr_raw = meta.get('asr', '') == 'raw'
    expected = {}
    for part in meta['expected'].split():
        k, v = part.split('=')
        assert k in CRIT, k
        lo, hi = v.split('-')
        expected[k] = [int(lo), int(hi)]
    expected['overall_order_group'] = meta.get('group', slug)
    flags = meta.get('flags', '').split()
    turns, warnings = [], []
    t_ms = 0
    answered = set()
    prev_cand = ''
    raised = set()
    lines = [l for l in body.strip().split('\n') if l.strip() and not l.startswith('#')]
    prev_end_ms = 0
    for n, line in enumerate(lines, 1):
        spk, rest = line.split('|', 1) if '|' in line else (line, '')
        parts = spk.split()
        who = parts[0]
        text = rest.strip()
        opts = dict(p.split(':', 1) for p in parts[1:] if ':' in p)
        flagset = [p for p in parts[1:] if ':' not in p]
        if who == 'P':
            topics = [t for t in opts.get('fact', '').split(',') if t]
            cues = [int(c) for c in opts.get('cue', '').split(',') if c != '']
            for tp in topics:
                f = facts[tp]
                if not any(norm(tr) in norm(prev_cand) for tr in f['triggers']):
                    warnings.append(f'turn {n}: fact {tp} without a trigger in the question')
                if tp in answered:
                    warnings.append(f'turn {n}: fact {tp} repeated')
                answered.add(tp)
            for ci in cues:
                cue = pc['cues'][ci]
                w = cue['when']
                if 'after_topic' in w and w['after_topic'] not in answered:
                    warnings.append(f'turn {n}: cue {ci} before its topic')
                if 'on_start' in w and n != 1:
                    warnings.append(f'turn {n}: on_start cue not first')
                if ci in raised:
                    warnings.append(f'turn {n}: cue {ci} twice')
                raised.add(ci)
            if not text:
                text = ' '.join([facts[t]['answer'] for t in topics] + [pc['cues'][c]['line'] for c in cues])
            if not text and 'closing' in flagset:
                text = pc['closing_line']
            for tp in topics:
                said = facts[tp]['answer']
                if 'cut' in flagset:  # barge-in: what was played is a prefix of the answer
                    if not said.startswith(text.rstrip('\u2014-').rstrip()):
                        warnings.append(f'turn {n}: cut-off fact {tp} is not a prefix of the answer')
                elif said not in text:
                    warnings.append(f'turn {n}: fact {tp} answer not verbatim')
            for ci in cues:
                if pc['cues'][ci]['line'] not in text:
                    warnings.append(f'turn {n}: cue {ci} line not verbatim')
            kind = opts.get('kind') or ('answer' if topics else 'cue' if cues else 'other')
            if 'closing' in flagset: kind = 'closing'
            if kind == 'closing' and pc['closing_line'] not in text:
                warnings.append(f'turn {n}: closing line missing')
            turn = {'n': n, 'speaker': 'patient', 'text': text, 'meta': {'kind': kind, 'topics': topics, 'cues': cues}}
        else:
            prev_cand = text.replace('~', ' ')
            turn = {'n': n, 'speaker': 'candidate', 'text': re.sub(r'\s*~\s*', ' ', text).strip()}
        # timing
        shown = turn['text']
        if mode == 'voice':
            role = 'candidate' if who == 'C' else 'patient'
            words, dur = make_words(text if who == 'C' else shown, level, role, f'{os.path.basename(path)}:{n}')
            if who == 'C' and asr_raw:
                shown = ' '.join(w['w'] for w in words)
                turn['text'] = shown
            turn['words'] = words
            gap = 0.8 if who == 'P' else (0.9 if level != 'weak' else 1.6)
            start = prev_end_ms + int(gap * 1000)
            if 'interrupt' in flagset:
                start = prev_end_ms - 400
            if who == 'P' and 'cut' in flagset:
                pass
            turn['t_ms'] = start
            prev_end_ms = start + int(dur * 1000)
        else:
            nw = len(shown.split())
            if who == 'C':
                start = prev_end_ms + 2500 + int(nw * 250)  # typing time before sending
            else:
                start = prev_end_ms + 600
            turn['t_ms'] = start
            prev_end_ms = start
        if 'at' in opts:
            want = int(float(opts['at']) * 1000)
            want = max(want, turn['t_ms'])
            shift = want - turn['t_ms']
            turn['t_ms'] = want
            prev_end_ms += max(0, shift)
        if who == 'P':
            for ci in turn['meta']['cues']:
                w = pc['cues'][ci]['when']
                if 'after_seconds' in w and turn['t_ms'] < w['after_seconds'] * 1000:
                    warnings.append(f'turn {n}: cue {ci} at {turn["t_ms"]/1000:.0f}s before {w["after_seconds"]}s')
        turns.append(turn)
    # closing line must end it
    if turns[-1]['speaker'] != 'patient' or turns[-1]['meta']['kind'] != 'closing':
        warnings.append('does not end with the closing line')
    doc = {'scenario': slug, 'mode': mode, 'level': level, 'turns': turns,
           'expected': expected, 'expected_flags': flags, 'reasoning': meta['reasoning']}
    name = os.path.splitext(os.path.basename(path))[0]
    json.dump(doc, open(f'{OUT}/{name}.json', 'w'), indent=1, ensure_ascii=False)
    open(f'{OUT}/{name}.json', 'a').write('\n')
    end_s = turns[-1]['t_ms'] / 1000
    cw = sum(len(t['text'].split()) for t in turns if t['speaker'] == 'candidate')
    print(f'{name}: {len(turns)} turns, {end_s:.0f}s, {cw} candidate words' + (''.join('\n   WARN ' + w for w in warnings)))

for p in sys.argv[1:]:
    convert(p)
