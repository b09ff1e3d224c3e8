# Prints a C file with its comments removed (line structure kept), so that names
# mentioned only in documentation are not taken for declarations.
{
    line = $0; out = ""
    while (line != "") {
        if (in_comment) {
            i = index(line, "*/")
            if (i == 0) { line = "" } else { line = substr(line, i + 2); in_comment = 0 }
        } else {
            i = index(line, "/*"); j = index(line, "//")
            if (j > 0 && (i == 0 || j < i)) {
                out = out substr(line, 1, j - 1); line = ""
            } else if (i > 0) {
                out = out substr(line, 1, i - 1) " "; line = substr(line, i + 2); in_comment = 1
            } else {
                out = out line; line = ""
            }
        }
    }
    print out
}
