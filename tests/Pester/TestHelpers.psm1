#Requires -Version 7.4
<#
    Shared fixtures for the SecretsPS Pester suite: importing the module under test, making key files
    (by the module, or by hand for the broken ones), proving that nothing changed on disk, running a
    fresh pwsh with a timeout, and reading key material back for the no-leak checks.
#>

Set-StrictMode -Version Latest

$script:RepoRoot = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)

# ---------------------------------------------------------------------------------------------
# The module under test
# ---------------------------------------------------------------------------------------------

function Get-SecretsPSModulePath {
    <# $env:SECRETSPS_MODULE (set by build.ps1 -Task Test), else <repo>/out/SecretsPS/SecretsPS.psd1. #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    $path = $env:SECRETSPS_MODULE
    if ([string]::IsNullOrWhiteSpace($path)) {
        $path = Join-Path $script:RepoRoot 'out/SecretsPS/SecretsPS.psd1'
    }
    if (-not (Test-Path -LiteralPath $path)) {
        throw "The module under test was not found at '$path'. Build it first: dotnet pwsh ./build.ps1 -Task Build (or set `$env:SECRETSPS_MODULE)."
    }
    return (Resolve-Path -LiteralPath $path).ProviderPath
}

function Import-SecretsPSUnderTest {
    <# Imports the built module into the global scope (once per process: an assembly cannot be loaded twice). #>
    [CmdletBinding()]
    param()
    $path = Get-SecretsPSModulePath
    $loaded = Get-Module -Name SecretsPS
    if ($loaded) {
        if ($loaded.ModuleBase -ne (Split-Path -Parent $path)) {
            Write-Warning "SecretsPS is already loaded from '$($loaded.ModuleBase)', not '$(Split-Path -Parent $path)'; the tests use the loaded one (run the suite in a fresh pwsh)."
        }
        return $loaded
    }
    Import-Module -Name $path -Global -ErrorAction Stop -PassThru
}

# ---------------------------------------------------------------------------------------------
# Folders and key files
# ---------------------------------------------------------------------------------------------

function New-TestFolder {
    <# A new, empty folder: under $TestDrive when Pester has one (removed with it), else under the temp folder. #>
    [CmdletBinding()]
    [OutputType([string])]
    param([string] $Parent)
    if (-not $Parent) {
        $testDrive = Get-Variable -Name TestDrive -Scope Global -ValueOnly -ErrorAction Ignore
        $Parent = if ($testDrive -and (Test-Path -LiteralPath $testDrive)) { $testDrive } else { [IO.Path]::GetTempPath() }
    }
    $path = Join-Path $Parent ('sps-' + [guid]::NewGuid().ToString('N').Substring(0, 10))
    $null = New-Item -ItemType Directory -Path $path -Force
    return $path
}

function New-TestKeyFile {
    <#
        Runs New-EncryptionConfig in a (new) folder and returns the key file's full path.
        Extra New-EncryptionConfig parameters can be passed with -Parameters @{ Kdf = 'raw' }.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [string] $Folder,
        [string] $Name = '.env.crypto',
        [string] $Version = 'v1',
        [hashtable] $Parameters = @{}
    )
    if (-not $Folder) { $Folder = New-TestFolder }
    elseif (-not (Test-Path -LiteralPath $Folder)) { $null = New-Item -ItemType Directory -Path $Folder -Force }
    $path = Join-Path $Folder $Name
    $null = New-EncryptionConfig -Path $path -Version $Version @Parameters -WarningAction SilentlyContinue -ErrorAction Stop
    return $path
}

function ConvertTo-LowerHex {
    param([Parameter(Mandatory)][byte[]] $Bytes)
    [Convert]::ToHexString($Bytes).ToLowerInvariant()
}

function Get-Sha256Hex {
    <# Lowercase hex SHA-256 of bytes: what ENCRYPTION_SALT_HASH__<v> must hold. #>
    param([Parameter(Mandatory)][byte[]] $Bytes)
    ConvertTo-LowerHex ([Security.Cryptography.SHA256]::HashData($Bytes))
}

function Get-RandomBytes {
    param([int] $Count = 32)
    [Security.Cryptography.RandomNumberGenerator]::GetBytes($Count)
}

function New-KeyVersionText {
    <#
        The lines of one version in the FORMATS.md §1 layout, written by hand so a test can break any of them.
        -Key takes bytes (written as base64) or a string (written as is). -SaltHash defaults to the right hash.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][string] $Version,
        [object] $Key,
        [byte[]] $Salt,
        [string] $SaltHash,
        [string] $Kdf = 'hkdf-sha256',
        [string] $Created = ([DateTime]::UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", [Globalization.CultureInfo]::InvariantCulture)),
        [switch] $NoKdf,
        [switch] $NoCreated
    )
    if ($null -eq $Key) { $Key = Get-RandomBytes 32 }
    if ($null -eq $Salt) { $Salt = Get-RandomBytes 16 }
    if (-not $PSBoundParameters.ContainsKey('SaltHash')) { $SaltHash = Get-Sha256Hex $Salt }
    $keyText = if ($Key -is [string]) { $Key } else { [Convert]::ToBase64String([byte[]]$Key) }
    $sb = [Text.StringBuilder]::new()
    $null = $sb.Append("ENCRYPTION_KEYS__$Version=`"$keyText`"`n")
    $null = $sb.Append("ENCRYPTION_SALT__$Version=`"$([Convert]::ToBase64String($Salt))`"`n")
    $null = $sb.Append("ENCRYPTION_SALT_HASH__$Version=`"$SaltHash`"`n")
    if (-not $NoKdf) { $null = $sb.Append("ENCRYPTION_KDF__$Version=`"$Kdf`"`n") }
    if (-not $NoCreated) { $null = $sb.Append("ENCRYPTION_CREATED__$Version=`"$Created`"`n") }
    return $sb.ToString()
}

function New-KeyFileText {
    <# A whole key file: the module's two header comments, ACTIVE_ENCRYPTION_VERSION (unless -Active is empty), then the versions. #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [AllowEmptyString()][string] $Active = 'v1',
        [string[]] $Versions = @()
    )
    $text = "# Gerado em 2025-01-14T12:34:56Z`n# MANTENHA ESTE ARQUIVO SEGURO - NÃO VERSIONE EM GIT`n`n"
    if ($Active) { $text += "ACTIVE_ENCRYPTION_VERSION=`"$Active`"`n" }
    foreach ($v in $Versions) { $text += $v }
    return $text
}

function Write-TestKeyFile {
    <# Writes text as UTF-8 without BOM, exactly (no newline added), and sets its Unix mode (default 600). #>
    [CmdletBinding()]
    [OutputType([string])]
    param(
        [Parameter(Mandatory)][string] $Path,
        [Parameter(Mandatory)][AllowEmptyString()][string] $Text,
        [string] $Mode = '600'
    )
    $folder = Split-Path -Parent $Path
    if ($folder -and -not (Test-Path -LiteralPath $folder)) { $null = New-Item -ItemType Directory -Path $folder -Force }
    [IO.File]::WriteAllText($Path, $Text, [Text.UTF8Encoding]::new($false))
    Set-TestFileMode -Path $Path -Mode $Mode
    return $Path
}

function Set-TestFileMode {
    param([Parameter(Mandatory)][string] $Path, [Parameter(Mandatory)][string] $Mode)
    if (-not $IsWindows) {
        [IO.File]::SetUnixFileMode($Path, [IO.UnixFileMode][Convert]::ToInt32($Mode, 8))
    }
}

function Get-TestFileMode {
    <# The permission bits of a file as octal text, e.g. '600'. #>
    [OutputType([string])]
    param([Parameter(Mandatory)][string] $Path)
    [Convert]::ToString(([int][IO.File]::GetUnixFileMode($Path)) -band 0x1FF, 8)
}

function Get-DamagedKeyFileCases {
    <#
        The ways a key file can be wrong that FORMATS.md §1 names, with the ErrorId and category the module must
        report for each. VersionLevel: the problem belongs to one version (listing shows it as "Failed: <id>").
    #>
    @(
        @{ Problem = 'ActiveVersionMissing'; Category = 'InvalidData'; VersionLevel = $false }
        @{ Problem = 'ActiveVersionNotDefined'; Category = 'ObjectNotFound'; VersionLevel = $false }
        @{ Problem = 'VersionDefinedTwice'; Category = 'InvalidData'; VersionLevel = $false }
        @{ Problem = 'KeyNotBase64'; Category = 'InvalidData'; VersionLevel = $true }
        @{ Problem = 'KeyTooShort'; Category = 'InvalidData'; VersionLevel = $true }
        @{ Problem = 'SaltIntegrityCheckFailed'; Category = 'SecurityError'; VersionLevel = $true }
        @{ Problem = 'KdfUnknown'; Category = 'InvalidData'; VersionLevel = $true }
        @{ Problem = 'RawKeyLength'; Category = 'InvalidData'; VersionLevel = $true }
    )
}

function Write-DamagedKeyFile {
    <# Writes (by hand) a key file whose only version, v1 (active), has the named problem. Mode 600. #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Path, [Parameter(Mandatory)][string] $Problem, [string] $Mode = '600')
    $text = switch ($Problem) {
        'ActiveVersionMissing' { New-KeyFileText -Active '' -Versions (New-KeyVersionText v1) }
        'ActiveVersionNotDefined' { New-KeyFileText -Active 'v5' -Versions (New-KeyVersionText v1) }
        'VersionDefinedTwice' { New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1), (New-KeyVersionText v1) }
        'KeyNotBase64' {
            $k = [Convert]::ToBase64String((Get-RandomBytes 32))
            New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1 -Key ($k.Substring(0, 10) + '*!' + $k.Substring(12)))
        }
        'KeyTooShort' { New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1 -Key (Get-RandomBytes 15)) }
        'SaltIntegrityCheckFailed' { New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1 -SaltHash (Get-Sha256Hex (Get-RandomBytes 16))) }
        'KdfUnknown' { New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1 -Kdf 'scrypt') }
        'RawKeyLength' { New-KeyFileText -Active 'v1' -Versions (New-KeyVersionText v1 -Kdf 'raw' -Key (Get-RandomBytes 24)) }
        default { throw "Unknown problem '$Problem'." }
    }
    Write-TestKeyFile -Path $Path -Text $text -Mode $Mode
}

function Get-KeyFileValues {
    <# NAME -> value (quotes removed) of every assignment line, in file order (the last one wins). #>
    [CmdletBinding()]
    param([Parameter(Mandatory)][string] $Path)
    $values = [ordered]@{}
    foreach ($line in ([IO.File]::ReadAllText($Path) -split "`n")) {
        if ($line -match '^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*(.*?)\s*$') {
            $v = $Matches[2]
            if ($v.Length -ge 2 -and ($v[0] -eq '"' -or $v[0] -eq "'") -and $v[-1] -eq $v[0]) { $v = $v.Substring(1, $v.Length - 2) }
            $values[$Matches[1]] = $v
        }
    }
    return $values
}

function Get-KeyFileLines {
    <# The file's lines (split on LF; the empty string after the final LF is dropped). #>
    param([Parameter(Mandatory)][string] $Path)
    $text = [IO.File]::ReadAllText($Path)
    $lines = $text -split "`n"
    if ($lines.Count -gt 0 -and $lines[-1] -eq '') { $lines = $lines[0..($lines.Count - 2)] }
    return , $lines
}

function Get-BackupFiles {
    <# The backups of a key file (<file>.backup_yyyyMMdd_HHmmss[_N]), by name. #>
    param([Parameter(Mandatory)][string] $Path)
    $name = Split-Path -Leaf $Path
    $pattern = '^' + [regex]::Escape($name) + '\.backup_\d{8}_\d{6}(_\d+)?$'
    @(Get-ChildItem -LiteralPath (Split-Path -Parent $Path) -Force -File | Where-Object Name -Match $pattern | Sort-Object Name)
}

# ---------------------------------------------------------------------------------------------
# "Nothing changed on disk"
# ---------------------------------------------------------------------------------------------

function Get-FileHashString {
    <#
        For a file: the SHA-256 hex of its bytes.
        For a folder: a snapshot, one line per entry (recursive, hidden files included, sorted):
        "<relative name>  <sha256>" for files, "<relative name>/" for folders. An EMPTY "*.lock" file is left out
        (the module may create its lock file); a non-empty one is listed, so it shows up as a change.
        Compare two snapshots with Should -Be to prove that no file was added, removed, changed or left half-written.
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param([Parameter(Mandatory, Position = 0)][string] $Path)
    if (Test-Path -LiteralPath $Path -PathType Leaf) {
        return [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([IO.File]::ReadAllBytes($Path)))
    }
    if (-not (Test-Path -LiteralPath $Path -PathType Container)) { return '<missing>' }
    $root = (Resolve-Path -LiteralPath $Path).ProviderPath.TrimEnd('/', '\')
    $entries = foreach ($item in Get-ChildItem -LiteralPath $root -Force -Recurse) {
        $relative = $item.FullName.Substring($root.Length + 1)
        if ($item.PSIsContainer) { "$relative/" }
        elseif ($item.Name -like '*.lock' -and $item.Length -eq 0) { continue }
        else { "$relative  $([Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([IO.File]::ReadAllBytes($item.FullName))))" }
    }
    return (@($entries) | Sort-Object -CaseSensitive) -join "`n"
}

# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

function Assert-SecretsPSError {
    <#
        The ErrorRecord has the stable ErrorId (FullyQualifiedErrorId starts with "<ErrorId>," or equals it)
        and, when given, the category.
    #>
    [CmdletBinding()]
    param(
        [Parameter(Position = 0)][AllowNull()] $ErrorRecord,
        [Parameter(Mandatory, Position = 1)][string] $ErrorId,
        [Parameter(Position = 2)][string] $Category
    )
    $record = @($ErrorRecord)[0]
    $record | Should -Not -BeNullOrEmpty -Because "an error with id $ErrorId was expected"
    $record.FullyQualifiedErrorId | Should -Match ('^' + [regex]::Escape($ErrorId) + '(,|$)')
    if ($Category) {
        $record.CategoryInfo.Category.ToString() | Should -Be $Category
    }
}

function Get-ErrorRecord {
    <# Runs the block and returns the ErrorRecord it throws (use -ErrorAction Stop inside), or $null. #>
    param([Parameter(Mandatory)][scriptblock] $ScriptBlock)
    try { $null = & $ScriptBlock; return $null } catch { return $_ }
}

# ---------------------------------------------------------------------------------------------
# Environment variables of the key file (restore them after every test that sets them)
# ---------------------------------------------------------------------------------------------

function Test-KeyEnvironmentName {
    param([string] $Name)
    $Name -eq 'ACTIVE_ENCRYPTION_VERSION' -or $Name -eq 'SECRETSPS_CONFIG' -or $Name -like 'ENCRYPTION_*__*'
}

function Save-KeyEnvironment {
    <# The current values of ACTIVE_ENCRYPTION_VERSION, SECRETSPS_CONFIG and ENCRYPTION_*__* variables. #>
    $saved = @{}
    foreach ($e in [Environment]::GetEnvironmentVariables().GetEnumerator()) {
        if (Test-KeyEnvironmentName $e.Key) { $saved[$e.Key] = $e.Value }
    }
    return $saved
}

function Clear-KeyEnvironment {
    foreach ($name in @([Environment]::GetEnvironmentVariables().Keys)) {
        # Not SetEnvironmentVariable($name, $null): PowerShell passes $null to a string as '', which leaves an empty variable.
        if (Test-KeyEnvironmentName $name) { Remove-Item -LiteralPath "Env:$name" -ErrorAction Ignore }
    }
}

function Restore-KeyEnvironment {
    <# Puts back exactly what Save-KeyEnvironment saw: removes added variables, restores changed ones. #>
    param([Parameter(Mandatory)][hashtable] $Saved)
    Clear-KeyEnvironment
    foreach ($k in $Saved.Keys) { Set-Item -LiteralPath "Env:$k" -Value $Saved[$k] }
}

# ---------------------------------------------------------------------------------------------
# Stored values and tokens
# ---------------------------------------------------------------------------------------------

function ConvertFrom-Base64Url {
    param([Parameter(Mandatory)][string] $Text)
    $s = $Text.Replace('-', '+').Replace('_', '/')
    switch ($s.Length % 4) { 2 { $s += '==' } 3 { $s += '=' } }
    [Convert]::FromBase64String($s)
}

function ConvertTo-Base64Url {
    param([Parameter(Mandatory)][byte[]] $Bytes, [switch] $NoPadding)
    $s = [Convert]::ToBase64String($Bytes).Replace('+', '-').Replace('/', '_')
    if ($NoPadding) { $s = $s.TrimEnd('=') }
    return $s
}

function Split-StoredValue {
    <# "<version>:<base64url(token text)>" -> @{ Version; Token (text); TokenBytes } #>
    param([Parameter(Mandatory)][string] $Value)
    $i = $Value.IndexOf(':')
    $token = [Text.Encoding]::ASCII.GetString((ConvertFrom-Base64Url $Value.Substring($i + 1)))
    [pscustomobject]@{
        Version    = $Value.Substring(0, $i)
        Token      = $token
        TokenBytes = ConvertFrom-Base64Url $token
    }
}

function Join-StoredValue {
    <# Builds "<version>:<base64url(base64url(token bytes))>" as FORMATS.md §4 writes it. #>
    param([Parameter(Mandatory)][string] $Version, [Parameter(Mandatory)][byte[]] $TokenBytes)
    $token = ConvertTo-Base64Url $TokenBytes
    return $Version + ':' + (ConvertTo-Base64Url ([Text.Encoding]::ASCII.GetBytes($token)))
}

function Get-StoredValueLength {
    <# FORMATS.md §4: len(version) + 1 + 4·⌈(4·⌈(73 + 16·⌊n/16⌋)/3⌉)/3⌉ for n plaintext UTF-8 bytes. #>
    param([string] $Version, [int] $PlaintextBytes)
    $tokenBytes = 73 + 16 * [math]::Floor($PlaintextBytes / 16)
    $tokenChars = 4 * [math]::Ceiling($tokenBytes / 3)
    return $Version.Length + 1 + 4 * [math]::Ceiling($tokenChars / 3)
}

# ---------------------------------------------------------------------------------------------
# Key material, for the "never leaks" checks
# ---------------------------------------------------------------------------------------------

function Get-SecretTextForms {
    <# The ways a byte string could show up in text: base64 (padded and not), base64url (no padding), hex lower and upper. #>
    param([Parameter(Mandatory)][byte[]] $Bytes)
    $b64 = [Convert]::ToBase64String($Bytes)
    @(
        $b64
        $b64.TrimEnd('=')
        (ConvertTo-Base64Url $Bytes -NoPadding)
        ([Convert]::ToHexString($Bytes).ToLowerInvariant())
        ([Convert]::ToHexString($Bytes).ToUpperInvariant())
    ) | Select-Object -Unique
}

function Get-KeyMaterial {
    <#
        Every secret a key file (or backup, or a list of NAME="value" lines) holds: for each version its key bytes,
        salt bytes and, where it can be computed (hkdf-sha256, raw), the derived Fernet key.
        Returns objects { Source; Version; What; Bytes }.
    #>
    [CmdletBinding()]
    param([string] $Path, [string[]] $Lines)
    $values = [ordered]@{}
    if ($Path) { $values = Get-KeyFileValues -Path $Path }
    foreach ($line in $Lines) {
        if ($line -match '^([A-Za-z_][A-Za-z0-9_.\-]*)="(.*)"$') { $values[$Matches[1]] = $Matches[2] }
    }
    $source = if ($Path) { $Path } else { 'lines' }
    foreach ($name in @($values.Keys)) {
        if ($name -notmatch '^ENCRYPTION_KEYS__(.+)$') { continue }
        $v = $Matches[1]
        $key = $null; $salt = $null
        try { $key = ConvertFrom-Base64Url $values[$name] } catch { $key = $null }
        if ($key) { [pscustomobject]@{ Source = $source; Version = $v; What = 'key'; Bytes = $key } }
        $saltText = $values["ENCRYPTION_SALT__$v"]
        if ($saltText) {
            try { $salt = ConvertFrom-Base64Url $saltText } catch { $salt = $null }
            if ($salt) { [pscustomobject]@{ Source = $source; Version = $v; What = 'salt'; Bytes = $salt } }
        }
        $kdf = $values["ENCRYPTION_KDF__$v"]
        if ($key -and $salt -and (-not $kdf -or $kdf -eq 'hkdf-sha256')) {
            $derived = [Security.Cryptography.HKDF]::DeriveKey([Security.Cryptography.HashAlgorithmName]::SHA256, $key, 32, $salt, [byte[]]@())
            [pscustomobject]@{ Source = $source; Version = $v; What = 'derived Fernet key'; Bytes = $derived }
            [pscustomobject]@{ Source = $source; Version = $v; What = 'derived signing key'; Bytes = [byte[]]$derived[0..15] }
            [pscustomobject]@{ Source = $source; Version = $v; What = 'derived encryption key'; Bytes = [byte[]]$derived[16..31] }
        }
    }
}

function Find-SecretInText {
    <#
        Which of the secrets (objects from Get-KeyMaterial, or plain strings) appear in the text, in any of their
        text forms. Returns descriptions of the hits (never the secret itself), so a failure message leaks nothing.
    #>
    param([AllowEmptyString()][string] $Text, [object[]] $Secrets)
    if ([string]::IsNullOrEmpty($Text)) { return }
    foreach ($s in $Secrets) {
        if ($s -is [string]) {
            if ($Text.Contains($s, [StringComparison]::Ordinal)) { "the plaintext (length $($s.Length))" }
            continue
        }
        $i = 0
        foreach ($form in Get-SecretTextForms $s.Bytes) {
            if ($Text.Contains($form, [StringComparison]::Ordinal)) { "$($s.What) of version '$($s.Version)' from '$($s.Source)' (text form #$i)" }
            $i++
        }
    }
}

# ---------------------------------------------------------------------------------------------
# A fresh pwsh
# ---------------------------------------------------------------------------------------------

function Get-PwshCommandLine {
    <# The program (and first argument) that starts the pwsh running now. #>
    $process = [Environment]::ProcessPath
    if ([IO.Path]::GetFileNameWithoutExtension($process) -eq 'dotnet') {
        return @($process, (Join-Path $PSHOME 'pwsh.dll'))
    }
    return @($process)
}

function Invoke-FreshPwsh {
    <#
        Runs -Command (or the script -File with -ArgumentList, as cron and systemd run one) in a NEW pwsh process
        (-NoProfile; -NonInteractive when asked), with standard input closed (at end-of-file), and returns
        { ExitCode; StdOut; StdErr; Duration }. A process still running after -TimeoutSeconds is killed (with its
        children) and the call throws: a hang is a failure.
    #>
    [CmdletBinding(DefaultParameterSetName = 'Command')]
    param(
        [Parameter(Mandatory, ParameterSetName = 'Command')][string] $Command,
        [Parameter(Mandatory, ParameterSetName = 'File')][string] $File,
        [Parameter(ParameterSetName = 'File')][string[]] $ArgumentList = @(),
        [int] $TimeoutSeconds = 60,
        [switch] $NonInteractive,
        [string] $WorkingDirectory
    )
    $cmd = Get-PwshCommandLine
    $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
    foreach ($a in @($cmd | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
    $psi.ArgumentList.Add('-NoProfile')
    if ($NonInteractive) { $psi.ArgumentList.Add('-NonInteractive') }
    if ($PSCmdlet.ParameterSetName -eq 'File') {
        $psi.ArgumentList.Add('-File')
        $psi.ArgumentList.Add($File)
        foreach ($a in $ArgumentList) { $psi.ArgumentList.Add($a) }
    }
    else {
        $psi.ArgumentList.Add('-Command')
        $psi.ArgumentList.Add($Command)
    }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = [Text.UTF8Encoding]::new($false)
    $psi.StandardErrorEncoding = [Text.UTF8Encoding]::new($false)
    $psi.WorkingDirectory = if ($WorkingDirectory) { $WorkingDirectory } else { (Get-Location -PSProvider FileSystem).ProviderPath }
    $psi.Environment['NO_COLOR'] = '1'
    $psi.Environment['SECRETSPS_MODULE'] = Get-SecretsPSModulePath

    $watch = [Diagnostics.Stopwatch]::StartNew()
    $process = [Diagnostics.Process]::Start($psi)
    try {
        $process.StandardInput.Close()
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
            try { $process.Kill($true) } catch { }
            $null = $process.WaitForExit(5000)
            $out = if ($stdout.Wait(2000)) { $stdout.Result } else { '' }
            $err = if ($stderr.Wait(2000)) { $stderr.Result } else { '' }
            throw "The fresh pwsh did not finish within $TimeoutSeconds s and was killed (a hang).`nstdout:`n$out`nstderr:`n$err"
        }
        $process.WaitForExit()
        [pscustomobject]@{
            ExitCode = $process.ExitCode
            StdOut   = $stdout.Result
            StdErr   = $stderr.Result
            Duration = $watch.Elapsed
        }
    }
    finally {
        $process.Dispose()
    }
}

# ---------------------------------------------------------------------------------------------
# Read-only folders (tests run as root, which ignores directory permissions)
# ---------------------------------------------------------------------------------------------

function Test-ChattrWorks {
    <# $null when `chattr +i` makes a folder read-only even for this user; else the reason it does not. #>
    if ($IsWindows) { return 'chattr is a Linux tool' }
    if (-not (Get-Command chattr -CommandType Application -ErrorAction Ignore)) { return 'chattr is not installed' }
    $probe = Join-Path ([IO.Path]::GetTempPath()) ('sps-chattr-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
    $null = New-Item -ItemType Directory -Path $probe
    try {
        $null = & chattr +i $probe 2>&1
        if ($LASTEXITCODE -ne 0) { return "chattr +i failed on '$probe' (file system without the immutable attribute, or no CAP_LINUX_IMMUTABLE)" }
        try {
            [IO.File]::WriteAllText((Join-Path $probe 'x'), 'x')
            return 'chattr +i did not stop a write'
        }
        catch { return $null }
        finally { $null = & chattr -i $probe 2>&1 }
    }
    finally { Remove-Item -LiteralPath $probe -Recurse -Force -ErrorAction Ignore }
}

Export-ModuleMember -Function *
