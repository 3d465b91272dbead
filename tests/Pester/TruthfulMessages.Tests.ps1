#Requires -Version 7.4
<#
    Rehearsals and messages that tell the truth (issue 19): a column of bad rows shows the first few as errors and one
    summary (with Get-ReencryptJobError for a real run; never "job 0" under -WhatIf); Ctrl+C says which job is paused;
    a run without -Resume says which unfinished jobs it did not continue; both phases of a rotation say what comes next;
    a -Path that was given but is missing is not told to use -Path; a missing table or column says which, with the
    nearest names (SQLite and PostgreSQL).
#>

BeforeDiscovery {
    $providers = @(@{ Provider = 'Sqlite' }, @{ Provider = 'PostgreSql' })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'PostgresServer.psm1')
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'FaultHelpers.psm1') -Force
    $script:databaseTestFile = Enter-DatabaseTestFile
    $script:folder = $databaseTestFile.Folder
    $script:pg = $databaseTestFile.Postgres

    function Test-NoDatabase([string] $Provider) { $Provider -eq 'PostgreSql' -and -not $script:pg.Available }
}

AfterAll {
    Exit-DatabaseTestFile $script:databaseTestFile
}

Describe 'A column of bad rows on <Provider>' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider $Provider -Folder $folder -Server $pg
        $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
        # 40 rows of plaintext: 40 NotCiphertext rows.
        New-TestSecretTable -Database $db -Table bad -Values (New-TestPlaintext 40 'plain')
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It '-WhatIf shows the first rows as errors and one summary that records nothing and names no job' {
        $null = Start-Reencryption -Table bad -Column otp @run -WhatIf -ErrorVariable e -ErrorAction SilentlyContinue -WarningVariable w -WarningAction SilentlyContinue
        $e.Count | Should -BeLessOrEqual 10
        $e.Count | Should -BeGreaterThan 0
        $e | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'NotCiphertext,*' }
        $summary = @($w | Where-Object Message -Match 'would fail')
        $summary | Should -HaveCount 1
        $summary[0].Message | Should -Match "$(40 - $e.Count) more row\(s\) would fail \(40 in all\)"
        ($w.Message -join "`n") | Should -Not -Match 'job 0|recorded|error table'
        @(Get-TestTableName -Database $db) | Should -Not -Contain 'reencrypt_jobs'
    }

    It 'a real run shows the first rows as errors and one summary naming Get-ReencryptJobError -JobId N, which lists them all' {
        $job = Start-Reencryption -Table bad -Column otp @run -ErrorVariable e -ErrorAction SilentlyContinue -WarningVariable w -WarningAction SilentlyContinue
        $job.Errors | Should -Be 40
        $e.Count | Should -BeLessOrEqual 10
        $summary = @($w | Where-Object Message -Match 'Get-ReencryptJobError')
        $summary | Should -HaveCount 1
        $summary[0].Message | Should -Match "$(40 - $e.Count) more row error\(s\).*\(40 in all\).*Get-ReencryptJobError -JobId $($job.Id)\."
        @(Get-ReencryptJobError -Provider $Provider -ConnectionString $db.ConnectionString -JobId $job.Id) | Should -HaveCount 40
    }
}

Describe 'A run without -Resume while an unfinished job exists' {
    BeforeAll {
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider Sqlite -Folder $folder
        $run = @{ ConnectionString = $db.ConnectionString; Path = $key }
        New-TestSecretTable -Database $db -Table t -Values (New-TestStoredValue (New-TestPlaintext 6 'a') $key -Version v1)
        $paused = Start-Reencryption -Table t -Column otp @run -MaxRows 2 -WarningVariable pausedWarning -WarningAction SilentlyContinue
        $fresh = Start-Reencryption -Table t -Column otp @run -WarningVariable w -WarningAction SilentlyContinue
    }

    It 'the stopped run said where it stopped and how to continue' {
        $paused.Status.ToString() | Should -Be 'Paused'
        ($pausedWarning.Message -join "`n") | Should -Match "Job $($paused.Id) paused.*-MaxRows 2 reached; continue with -Resume"
    }

    It 'starts a new job and says which job it left, how to continue it and how to remove it' {
        $fresh.Id | Should -Not -Be $paused.Id
        $fresh.Status.ToString() | Should -Be 'Finished'
        $said = @($w | Where-Object Message -Match 'not continued')
        $said | Should -HaveCount 1
        $said[0].Message | Should -Match "job\(s\) $($paused.Id) of t\.otp were not continued"
        $said[0].Message | Should -Match '-Resume'
        $said[0].Message | Should -Match "Remove-ReencryptJob -Id $($paused.Id)\."
    }

    It 'the paused job is still there, unchanged, for the operator to continue or remove' {
        $job = Get-ReencryptJob -ConnectionString $db.ConnectionString -Id $paused.Id
        $job.Status.ToString() | Should -Be 'Paused'
        $job.LastKey | Should -Be $paused.LastKey
    }

    It 'with -Resume nothing is left behind and nothing is said about it' {
        $null = Start-Reencryption -Table t -Column otp @run -Resume -WarningVariable w2 -WarningAction SilentlyContinue
        ($w2.Message -join "`n") | Should -Not -Match 'not continued'
    }
}

Describe 'Ctrl+C (SIGINT) in the middle of a run' {
    BeforeAll {
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider Sqlite -Folder $folder
        New-TestSecretTable -Database $db -Table t -Values (New-TestStoredValue (New-TestPlaintext 5000 'a') $key -Version v1)
        # Pages of one row, a commit each: the run lasts long after its first row, whatever the machine's speed.
        $runner = Start-FaultRunner -Module (Get-SecretsPSModulePath) -Folder $folder `
            -Script "Start-Reencryption -Table t -Column otp -ConnectionString '$($db.Path)' -Path '$key' -BatchSize 1 -CommitEvery 1; 'AFTER-THE-RUN'"
        Set-FaultRunnerGo $runner
        $null = Wait-TestCondition -TimeoutSeconds 60 -Because 'the runner to commit its first rows' -Condition {
            if ($runner.Process.HasExited) { throw "The runner ended early (exit $($runner.Process.ExitCode)): $($runner.StdErr.Result)" }
            $j = Get-FaultJob -Database $db
            $j -and $j.status -eq 'running' -and [int]$j.processed -gt 0
        }
        Send-FaultSignal $runner INT
        $ended = Wait-FaultRunnerExit $runner -TimeoutSeconds 30
        if (-not $ended) { Stop-TestPwshProcess $runner }
        $job = Get-FaultJob -Database $db
    }

    It 'pauses the job and says "job N is paused; continue with -Resume"' {
        $ended | Should -BeTrue
        $job.status | Should -Be 'paused'
        $runner.StdOut.Result + $runner.StdErr.Result | Should -Match "job $($job.id) is paused; continue with Start-Reencryption -Resume"
        $runner.StdOut.Result | Should -Not -Match 'AFTER-THE-RUN' -Because 'Ctrl+C stops the script, not only the command'
    }
}

Describe 'Both phases of a two-phase rotation say what comes next' {
    BeforeEach { $key = New-TestKeyFile -Folder (New-TestFolder -Parent $folder) }

    It 'Invoke-KeyRotation -Inactive names Set-ActiveEncryptionKey as the next step (re-encrypting comes after it)' {
        $null = Invoke-KeyRotation -Path $key -Inactive -WarningVariable w -WarningAction SilentlyContinue
        ($w.Message -join "`n") | Should -Match "Set-ActiveEncryptionKey -Version v2"
        ($w.Message -join "`n") | Should -Not -Match 'Start-Reencryption'
    }

    It 'Set-ActiveEncryptionKey gives the same "next: re-encrypt" hint as a one-phase rotation' {
        $oneKey = New-TestKeyFile -Folder (New-TestFolder -Parent $folder)
        $null = Invoke-KeyRotation -Path $oneKey -Force -WarningVariable one -WarningAction SilentlyContinue
        $null = Invoke-KeyRotation -Path $key -Inactive -WarningAction SilentlyContinue
        Set-ActiveEncryptionKey -Path $key -Version v2 -Force -WarningVariable two -WarningAction SilentlyContinue
        @($two.Message) | Should -Contain (@($one.Message | Where-Object { $_ -like 'Next: re-encrypt*' })[0])
    }

    It 'Set-ActiveEncryptionKey of the version already active gives no hint' {
        Set-ActiveEncryptionKey -Path $key -Version v1 -Force -WarningVariable w -WarningAction SilentlyContinue
        ($w.Message -join "`n") | Should -Not -Match 'Next:'
    }
}

Describe 'A -Path that was given but does not exist' {
    It 'says the file given with -Path does not exist, and does not tell to name it with -Path' {
        $missing = Join-Path $folder 'nope/.env.crypto'
        $err = { Get-EncryptionKey -Path $missing -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        $err.Exception.Message | Should -BeLike "*'$missing' given with -Path does not exist*folder*does not exist either*"
        $err.Exception.Message | Should -Not -Match 'name it with -Path'
    }

    It 'a missing file in a folder that exists is told apart from a missing folder' {
        $missing = Join-Path $folder '.env.crypto.typo'
        $err = { Get-EncryptionKey -Path $missing -ErrorAction Stop } | Should -Throw -PassThru
        $err.Exception.Message | Should -BeLike "*'$missing' given with -Path does not exist. Check the name*"
    }

    It 'a file named by $env:SECRETSPS_CONFIG that does not exist names the variable, not -Path' {
        $missing = Join-Path $folder 'gone/.env.crypto'
        $saved = $env:SECRETSPS_CONFIG
        try {
            $env:SECRETSPS_CONFIG = $missing
            $err = { Get-EncryptionKey -ErrorAction Stop } | Should -Throw -PassThru
        }
        finally { $env:SECRETSPS_CONFIG = $saved }
        Assert-SecretsPSError $err 'KeyFileNotFound' 'ObjectNotFound'
        $err.Exception.Message | Should -BeLike "*'$missing' named by `$env:SECRETSPS_CONFIG does not exist*"
    }

    It 'without -Path, the message still lists where it looked and how to name a file' {
        Push-Location (New-TestFolder -Parent $folder)
        try { $err = { Get-EncryptionKey -ErrorAction Stop } | Should -Throw -PassThru }
        finally { Pop-Location }
        $err.Exception.Message | Should -Match 'looked for .*name it with -Path'
    }
}

Describe 'A missing table or column on <Provider> says which, with the nearest names' -ForEach $providers {
    BeforeAll {
        if (Test-NoDatabase $Provider) { return }
        $key = New-TestRotatedKeyFile -Folder (New-TestFolder -Parent $folder)
        $db = New-TestDatabase -Provider $Provider -Folder $folder -Server $pg
        $run = @{ Provider = $Provider; ConnectionString = $db.ConnectionString; Path = $key }
        New-TestSecretTable -Database $db -Table usuarios -Column otp_secret -Values @()
        New-TestSecretTable -Database $db -Table clientes -Values @()
    }
    BeforeEach {
        if (Test-NoDatabase $Provider) { Set-ItResult -Skipped -Because "PostgreSQL is not available: $($pg.Reason)" }
    }

    It 'a table that does not exist: "Table ''usuario'' was not found", with the nearest table' {
        $e = { Start-Reencryption -Table usuario -Column otp_secret @run -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $e 'TargetNotFound' 'ObjectNotFound'
        $e.Exception.Message | Should -BeLike "Table 'usuario' was not found. Nearest: 'usuarios'.*"
        $e.Exception.Message | Should -Not -Match 'or it has no column'
    }

    It 'a column that does not exist: "Table ''usuarios'' has no column ''otp''", with the nearest column' {
        $e = { Start-Reencryption -Table usuarios -Column otp @run -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $e 'TargetNotFound' 'ObjectNotFound'
        $e.Exception.Message | Should -BeLike "Table 'usuarios' has no column 'otp'. Nearest: 'otp_secret'.*"
    }

    It 'a -KeyColumn that does not exist is named as the missing column' {
        $e = { Start-Reencryption -Table usuarios -Column otp_secret -KeyColumn idd @run -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -BeLike "Table 'usuarios' has no column 'idd'. Nearest: 'id'*"
    }

    It 'Get-EncryptedColumnStatus says the same (on PostgreSQL inside its READ ONLY transaction too)' {
        $status = Get-EncryptedColumnStatus -Table usuarioz -Column otp_secret @run -ErrorVariable e -ErrorAction SilentlyContinue
        $e | Should -HaveCount 1
        Assert-SecretsPSError $e[0] 'TargetNotFound' 'ObjectNotFound'
        $e[0].Exception.Message | Should -BeLike "Table 'usuarioz' was not found. Nearest: 'usuarios'*"
    }

    It 'Start-Reencryption -WhatIf says the same' {
        $e = { Start-Reencryption -Table usuarios -Column otp @run -WhatIf -ErrorAction Stop } | Should -Throw -PassThru
        Assert-SecretsPSError $e 'TargetNotFound' 'ObjectNotFound'
        $e.Exception.Message | Should -BeLike "Table 'usuarios' has no column 'otp'. Nearest: 'otp_secret'.*"
    }

    It 'a name nothing resembles gets no "Nearest"' {
        $e = { Start-Reencryption -Table zzzzqqqq -Column otp_secret @run -ErrorAction Stop } | Should -Throw -PassThru
        $e.Exception.Message | Should -BeLike "Table 'zzzzqqqq' was not found. Check -Table*"
    }
}
