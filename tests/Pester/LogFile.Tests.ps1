BeforeDiscovery {
    $cmdlets = @(
        'New-EncryptionConfig', 'Get-EncryptionKey', 'Invoke-KeyRotation', 'Set-ActiveEncryptionKey', 'Test-EncryptionConfig',
        'Backup-EncryptionConfig', 'Restore-EncryptionConfig', 'Remove-EncryptionKey', 'Protect-EncryptedValue', 'Unprotect-EncryptedValue'
    ) | ForEach-Object { @{ Cmdlet = $_ } }
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'

    # FORMATS.md §6: yyyy-MM-dd HH:mm:ss,fff - <logger> - <LEVEL> - <message>
    $linePattern = '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - SecretsPS\.Commands\.\w+ - (DEBUG|INFO|WARNING|ERROR) - '

    # One typical call of each cmdlet against the key file $p, logging to $log.
    $invoke = @{
        'New-EncryptionConfig'     = { param($p, $log) $null = New-EncryptionConfig -Path "$p.new" -LogFile $log -WarningAction SilentlyContinue }
        'Get-EncryptionKey'        = { param($p, $log) $null = Get-EncryptionKey -Path $p -LogFile $log }
        'Invoke-KeyRotation'       = { param($p, $log) $null = Invoke-KeyRotation -Path $p -LogFile $log -WarningAction SilentlyContinue }
        'Set-ActiveEncryptionKey'  = { param($p, $log) $null = Invoke-KeyRotation -Path $p -Inactive -NewVersion next; Set-ActiveEncryptionKey -Path $p -Version next -LogFile $log }
        'Test-EncryptionConfig'    = { param($p, $log) $null = Test-EncryptionConfig -Path $p -LogFile $log }
        'Backup-EncryptionConfig'  = { param($p, $log) $null = Backup-EncryptionConfig -Path $p -LogFile $log }
        'Restore-EncryptionConfig' = { param($p, $log) $b = Backup-EncryptionConfig -Path $p; Restore-EncryptionConfig -Path $p -BackupPath $b.FullName -Force -LogFile $log }
        'Remove-EncryptionKey'     = { param($p, $log) $null = Invoke-KeyRotation -Path $p -Inactive -NewVersion gone; Remove-EncryptionKey -Path $p -Version gone -Force -LogFile $log }
        'Protect-EncryptedValue'   = { param($p, $log) $null = Protect-EncryptedValue -Path $p -Value 'x' -LogFile $log }
        'Unprotect-EncryptedValue' = { param($p, $log) $v = Protect-EncryptedValue -Path $p -Value 'x'; $null = Unprotect-EncryptedValue -Path $p -Value $v -LogFile $log }
    }

    function Assert-LogFile {
        param([string] $Log, [string] $Cmdlet)
        Test-Path -LiteralPath $Log | Should -BeTrue -Because "$Cmdlet -LogFile must write '$Log'"
        $lines = @(Get-Content -LiteralPath $Log)
        $lines.Count | Should -BeGreaterOrEqual 2
        $logger = 'SecretsPS.Commands.' + ($Cmdlet -replace '-', '')
        foreach ($l in $lines) {
            $l | Should -Match $linePattern
            $l | Should -BeLike "* - $logger - *"
        }
        $lines[0] | Should -BeLike "* - INFO - $Cmdlet started"
        $lines[-1] | Should -BeLike "* - INFO - $Cmdlet finished"
    }
}

AfterAll {
    if ($script:savedEnvironment) { Restore-KeyEnvironment $script:savedEnvironment }
}

Describe '-LogFile' {

    Context 'a path' {
        It '<Cmdlet> -LogFile PATH appends lines in the FORMATS.md §6 layout, under its own logger name' -ForEach $cmdlets {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $log = Join-Path $folder 'logs/run.log'
            & $invoke[$Cmdlet] $path $log
            Assert-LogFile -Log $log -Cmdlet $Cmdlet
        }

        It 'resolves a relative -LogFile against the PowerShell location' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            Push-Location $folder
            try { $null = Get-EncryptionKey -Path $path -LogFile 'relative.log' }
            finally { Pop-Location }
            Test-Path -LiteralPath (Join-Path $folder 'relative.log') | Should -BeTrue
        }

        It 'accepts a PowerShell drive path such as SPSLOG:/run.log, as -Path does' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder (Join-Path $folder 'keys')
            $logFolder = New-TestFolder -Parent $folder
            $cwd = New-TestFolder -Parent $folder
            $null = New-PSDrive -Name SPSLOG -PSProvider FileSystem -Root $logFolder
            Push-Location $cwd
            try { $null = Get-EncryptionKey -Path $path -LogFile 'SPSLOG:/run.log' }
            finally { Pop-Location; Remove-PSDrive -Name SPSLOG }
            Get-FileHashString $cwd | Should -BeExactly '' -Because 'the log must not land in a folder named after the drive in the current folder'
            Test-Path -LiteralPath (Join-Path $logFolder 'run.log') | Should -BeTrue
        }

        It 'logs verbose lines as INFO, warnings as WARNING and errors as ERROR (with the ErrorId)' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $log = Join-Path $folder 'levels.log'
            $null = Invoke-KeyRotation -Path $path -LogFile $log -WarningAction SilentlyContinue
            $null = Protect-EncryptedValue -Path $path -Value '' -LogFile $log -ErrorAction SilentlyContinue
            $text = Get-Content -LiteralPath $log -Raw
            $text | Should -Match ' - SecretsPS\.Commands\.InvokeKeyRotation - INFO - Backed up the key file'
            $text | Should -Match ' - SecretsPS\.Commands\.InvokeKeyRotation - WARNING - Next: re-encrypt'
            $text | Should -Match ' - SecretsPS\.Commands\.ProtectEncryptedValue - ERROR - ValueEmpty\b'
        }

        It 'logs a terminating error before it ends the command' {
            $folder = New-TestFolder
            $log = Join-Path $folder 'error.log'
            { Get-EncryptionKey -Path (Join-Path $folder 'missing.env') -LogFile $log -ErrorAction Stop } | Should -Throw
            (Get-Content -LiteralPath $log -Raw) | Should -Match ' - ERROR - KeyFileNotFound'
        }

        It 'fails with LogFileUnwritable (WriteError) when the log cannot be created, and changes nothing' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $before = Get-FileHashString $folder
            $err = { Invoke-KeyRotation -Path $path -LogFile (Join-Path $path 'below-a-file.log') -Force -ErrorAction Stop } | Should -Throw -PassThru
            Assert-SecretsPSError $err 'LogFileUnwritable' 'WriteError'
            Get-FileHashString $folder | Should -Be $before
        }
    }

    Context 'a name of the key file (FORMATS.md §6: never the key file, a backup, its lock or its journal)' {
        BeforeAll {
            # A key file with a backup, a lock file with content (a non-empty lock shows in the folder snapshot) and a journal.
            function New-KeyFolder {
                $folder = New-TestFolder
                $path = New-TestKeyFile -Folder $folder
                $backup = (Backup-EncryptionConfig -Path $path).FullName
                Set-Content -LiteralPath "$path.lock" -Value 'lock' -NoNewline
                Set-Content -LiteralPath "$path.audit.jsonl" -Value '{"operation_id":"cleanup_20250101_000000_abcd"}' -NoNewline
                [pscustomobject]@{ Folder = $folder; Path = $path; Backup = $backup }
            }

            function Assert-Refused {
                param([scriptblock] $Call, [object] $Case, [string] $Because)
                $before = Get-FileHashString $Case.Folder
                $keyBefore = [IO.File]::ReadAllBytes($Case.Path)
                $err = Get-ErrorRecord $Call
                Assert-SecretsPSError $err 'LogFileIsKeyFile' 'InvalidArgument'
                [IO.File]::ReadAllBytes($Case.Path) | Should -Be $keyBefore -Because "the key file stays byte-identical ($Because)"
                Get-FileHashString $Case.Folder | Should -Be $before -Because "nothing is appended or created ($Because)"
            }
        }

        It 'Invoke-KeyRotation -LogFile <Name> is refused with LogFileIsKeyFile before anything is written' -ForEach @(
            @{ Name = '<file>' }
            @{ Name = '<file>.backup_*' }
            @{ Name = '<file>.lock' }
            @{ Name = '<file>.audit.jsonl' }
        ) {
            $case = New-KeyFolder
            $log = switch ($Name) {
                '<file>' { $case.Path }
                '<file>.backup_*' { $case.Backup }
                '<file>.lock' { "$($case.Path).lock" }
                '<file>.audit.jsonl' { "$($case.Path).audit.jsonl" }
            }
            Assert-Refused { Invoke-KeyRotation -Path $case.Path -LogFile $log -Force -ErrorAction Stop -WarningAction SilentlyContinue } $case $Name
        }

        It 'refuses a backup name that does not exist yet, and a lock or journal that does not exist yet' {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder $folder
            $case = [pscustomobject]@{ Folder = $folder; Path = $path }
            foreach ($log in "$path.backup_20990101_000000", "$path.lock", "$path.audit.jsonl") {
                Assert-Refused { Set-ActiveEncryptionKey -Path $path -Version v1 -Force -LogFile $log -ErrorAction Stop } $case $log
            }
        }

        It 'refuses the key file for <Cmdlet> as well' -ForEach $cmdlets {
            $case = New-KeyFolder
            $p = $case.Path
            $call = @{
                'New-EncryptionConfig'     = { New-EncryptionConfig -Path $p -Force -LogFile $p -ErrorAction Stop -WarningAction SilentlyContinue }
                'Get-EncryptionKey'        = { Get-EncryptionKey -Path $p -LogFile $p -ErrorAction Stop }
                'Invoke-KeyRotation'       = { Invoke-KeyRotation -Path $p -Force -LogFile $p -ErrorAction Stop -WarningAction SilentlyContinue }
                'Set-ActiveEncryptionKey'  = { Set-ActiveEncryptionKey -Path $p -Version v1 -Force -LogFile $p -ErrorAction Stop }
                'Test-EncryptionConfig'    = { Test-EncryptionConfig -Path $p -LogFile $p -ErrorAction Stop }
                'Backup-EncryptionConfig'  = { Backup-EncryptionConfig -Path $p -LogFile $p -ErrorAction Stop }
                'Restore-EncryptionConfig' = { Restore-EncryptionConfig -Path $p -BackupPath $case.Backup -Force -LogFile $p -ErrorAction Stop }
                'Remove-EncryptionKey'     = { Remove-EncryptionKey -Path $p -Version v1 -Force -LogFile $p -ErrorAction Stop }
                'Protect-EncryptedValue'   = { Protect-EncryptedValue -Path $p -Value 'x' -LogFile $p -ErrorAction Stop }
                'Unprotect-EncryptedValue' = { Unprotect-EncryptedValue -Path $p -Value 'x' -LogFile $p -ErrorAction Stop }
            }
            Assert-Refused $call[$Cmdlet] $case $Cmdlet
        }

        It 'a relative -LogFile and a -LogFile through a PowerShell drive are compared resolved' {
            $case = New-KeyFolder
            Push-Location $case.Folder
            try { Assert-Refused { Get-EncryptionKey -LogFile './.env.crypto' -ErrorAction Stop } $case 'relative, default key file' }
            finally { Pop-Location }
            $null = New-PSDrive -Name SPSKEY -PSProvider FileSystem -Root $case.Folder
            try { Assert-Refused { Get-EncryptionKey -Path $case.Path -LogFile 'SPSKEY:/.env.crypto.lock' -ErrorAction Stop } $case 'drive' }
            finally { Remove-PSDrive -Name SPSKEY }
        }

        It 'a key file that comes from the pipeline is checked before the log is written' {
            $case = New-KeyFolder
            Assert-Refused { [pscustomobject]@{ Path = $case.Path } | Get-EncryptionKey -LogFile $case.Path -ErrorAction Stop } $case 'pipeline'
        }

        It 'a log path that is a symbolic link to the key file is refused' -Skip:$IsWindows {
            $case = New-KeyFolder
            $logs = New-TestFolder
            $link = Join-Path $logs 'run.log'
            $null = New-Item -ItemType SymbolicLink -Path $link -Target $case.Path
            Assert-Refused { Invoke-KeyRotation -Path $case.Path -LogFile $link -Force -ErrorAction Stop -WarningAction SilentlyContinue } $case 'link to the key file'
            $folderLink = Join-Path $logs 'keys'
            $null = New-Item -ItemType SymbolicLink -Path $folderLink -Target $case.Folder
            Assert-Refused { Invoke-KeyRotation -Path $case.Path -LogFile (Join-Path $folderLink '.env.crypto.audit.jsonl') -Force -ErrorAction Stop -WarningAction SilentlyContinue } $case 'through a linked folder'
        }

        It 'a key file that is a symbolic link to the log path is refused (and so are the target''s lock and journal)' -Skip:$IsWindows {
            $case = New-KeyFolder
            $linkFolder = New-TestFolder
            $link = Join-Path $linkFolder '.env.crypto'
            $null = New-Item -ItemType SymbolicLink -Path $link -Target $case.Path
            Assert-Refused { Invoke-KeyRotation -Path $link -LogFile $case.Path -Force -ErrorAction Stop -WarningAction SilentlyContinue } $case 'the link''s target'
            Assert-Refused { Invoke-KeyRotation -Path $link -LogFile "$($case.Path).lock" -Force -ErrorAction Stop -WarningAction SilentlyContinue } $case 'the target''s lock'
        }

        It 'a name that differs only in case is another file on a case-sensitive file system, and is used' -Skip:($IsWindows -or $IsMacOS) {
            $case = New-KeyFolder
            $log = Join-Path $case.Folder '.ENV.CRYPTO.LOCK'
            $null = Get-EncryptionKey -Path $case.Path -LogFile $log
            Assert-LogFile -Log $log -Cmdlet 'Get-EncryptionKey'
        }

        It 'Start-Reencryption (a key file and a database) refuses its key file as the log' {
            Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
            $case = New-KeyFolder
            $db = New-TestDatabase -Provider Sqlite -Folder $case.Folder
            New-TestSecretTable -Database $db -Table usuarios -Values (New-TestStoredValue (New-TestPlaintext 2 'log') $case.Path)
            Assert-Refused { Start-Reencryption -Table usuarios -Column otp -ConnectionString $db.ConnectionString -Path $case.Path -LogFile $case.Path -ErrorAction Stop } $case 'Start-Reencryption'
        }

        It 'Get-ReencryptJob (no key file of its own) refuses the key file this session would use by default' {
            $case = New-KeyFolder
            Push-Location $case.Folder
            try { Assert-Refused { Get-ReencryptJob -ConnectionString (Join-Path $case.Folder 'none.db') -LogFile './.env.crypto' -ErrorAction Stop } $case 'default key file' }
            finally { Pop-Location }
        }
    }

    Context 'an empty string' {
        It "<Cmdlet> -LogFile '' writes secrets_yyyyMMdd_HHmmss.log in the current folder" -ForEach $cmdlets {
            $folder = New-TestFolder
            $path = New-TestKeyFile -Folder (Join-Path $folder 'keys')
            $cwd = New-TestFolder -Parent $folder
            Push-Location $cwd
            try { & $invoke[$Cmdlet] $path '' }
            finally { Pop-Location }
            $logs = @(Get-ChildItem -LiteralPath $cwd -Force)
            $logs.Count | Should -Be 1
            $logs[0].Name | Should -Match '^secrets_\d{8}_\d{6}\.log$'
            [DateTime]::ParseExact($logs[0].Name.Substring(8, 15), 'yyyyMMdd_HHmmss', $null) | Should -BeGreaterThan ([DateTime]::Now.AddMinutes(-2))
            Assert-LogFile -Log $logs[0].FullName -Cmdlet $Cmdlet
        }
    }
}
