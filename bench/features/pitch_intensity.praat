# Praat side of bench/bench_features.sh: pitch (ac) and intensity with the settings tenor
# replicates, on every file of a list; prints the seconds spent (reading included).
# With a non-empty outdir, also writes <outdir>/<basename>.csv (time,f0,intensity) per file.
form Bench pitch and intensity
  sentence Listfile
  sentence Outdir
endform
files = Read Strings from raw text file: listfile$
n = Get number of strings
stopwatch
for i to n
  selectObject: files
  file$ = Get string: i
  sound = Read from file: file$
  pitch = To Pitch (ac): 0.01, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600
  selectObject: sound
  intensity = To Intensity: 75, 0.01, "yes"
  if outdir$ <> ""
    selectObject: pitch
    frames = Get number of frames
    out$ = "time,f0,intensity" + newline$
    for k to frames
      selectObject: pitch
      t = Get time from frame number: k
      f0 = Get value in frame: k, "Hertz"
      if f0 = undefined
        f0 = 0
      endif
      selectObject: intensity
      db = Get value at time: t, "cubic"
      if db = undefined
        db = -1000
      endif
      out$ = out$ + fixed$ (t, 6) + "," + fixed$ (f0, 4) + "," + fixed$ (db, 4) + newline$
    endfor
    base$ = replace_regex$ (file$, "^.*/", "", 1)
    base$ = replace_regex$ (base$, "\.wav$", "", 1)
    writeFile: outdir$ + "/" + base$ + ".csv", out$
  endif
  removeObject: sound, pitch, intensity
endfor
elapsed = stopwatch
writeInfoLine: fixed$ (elapsed, 4)
