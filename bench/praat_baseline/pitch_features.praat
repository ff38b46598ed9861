# Seven pitch features per file for bench/praat_baseline.sh: Praat's `To Pitch (ac)` with the
# settings tenor replicates (75-600 Hz), over each file of a list; prints one line per file:
# path, then F0 mean, standard deviation, minimum, maximum, median (Hz), range (max - min, Hz)
# and the share of frames voiced. A file with no voiced frame prints "nan" for the F0 values.
form Pitch features
  sentence Listfile
endform
files = Read Strings from raw text file: listfile$
n = Get number of strings
for i to n
  selectObject: files
  file$ = Get string: i
  sound = Read from file: file$
  pitch = To Pitch (ac): 0.01, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600
  frames = Get number of frames
  voiced = Count voiced frames
  if voiced > 0
    mean = Get mean: 0, 0, "Hertz"
    sd = Get standard deviation: 0, 0, "Hertz"
    min = Get minimum: 0, 0, "Hertz", "Parabolic"
    max = Get maximum: 0, 0, "Hertz", "Parabolic"
    median = Get quantile: 0, 0, 0.5, "Hertz"
    if sd = undefined
      sd = 0
    endif
    appendInfoLine: file$, tab$, mean, tab$, sd, tab$, min, tab$, max, tab$, median, tab$,
    ... max - min, tab$, voiced / frames
  else
    appendInfoLine: file$, tab$, "nan", tab$, "nan", tab$, "nan", tab$, "nan", tab$, "nan", tab$,
    ... "nan", tab$, 0
  endif
  removeObject: sound, pitch
endfor
