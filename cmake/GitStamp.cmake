# The commit a build holds, for `tenor --version`, runs, stores and bundles: HEAD's short hash,
# with "-dirty" when tracked files differ from HEAD (a binary built before its change was
# committed), "unknown" outside a git checkout. Run at every build by the tenor_git_stamp
# target (CMakeLists.txt): OUT is rewritten only when the stamp changes, so an unchanged
# stamp rebuilds nothing, and a commit or an edit relinks what includes it.
#   cmake -DSOURCE_DIR=... -DIN=core/git_commit.cpp.in -DOUT=... -P cmake/GitStamp.cmake
execute_process(COMMAND git rev-parse --short HEAD
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE TENOR_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE
                RESULT_VARIABLE head_rc ERROR_QUIET)
if(NOT head_rc EQUAL 0 OR NOT TENOR_GIT_COMMIT)
  set(TENOR_GIT_COMMIT unknown)
else()
  # --no-optional-locks: a build must not take the index lock from a git command running beside.
  execute_process(COMMAND git --no-optional-locks status --porcelain --untracked-files=no
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE changes RESULT_VARIABLE status_rc ERROR_QUIET)
  if(NOT status_rc EQUAL 0 OR changes)
    string(APPEND TENOR_GIT_COMMIT -dirty)
  endif()
endif()
configure_file(${IN} ${OUT} @ONLY)
