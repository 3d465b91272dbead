# Messages come in en-US and pt-BR, chosen by $PSUICulture (the original users work in Portuguese). Each culture runs
# in a fresh pwsh (the module loads once per process, and a satellite once per culture): the same commands under
# pt-BR and en-US, so the Portuguese text is proved against the English one, and what machines read (ErrorIds,
# the log line layout, the job tables) is proved the same in both.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'DatabaseFixtures.psm1') -Force
    $script:savedEnvironment = Save-KeyEnvironment
    Clear-KeyEnvironment
    $null = Import-SecretsPSUnderTest
    $PSStyle.OutputRendering = 'PlainText'
    $script:folder = New-TestDatabaseFolder

    # FORMATS.md §6: yyyy-MM-dd HH:mm:ss,fff - <logger> - <LEVEL> - <message>
    $script:linePattern = '^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - (SecretsPS\.Commands\.\w+) - (DEBUG|INFO|WARNING|ERROR) - '

    # The child sets the UI culture before importing the module, runs each command, and prints "RESULT <json>";
    # -WhatIf text goes to the host, so it is printed between markers.
    $childScript = @'
param([string] $Culture, [string] $ConfigFile)
[System.Globalization.CultureInfo]::CurrentUICulture = $Culture
$PSStyle.OutputRendering = 'PlainText'
Import-Module $env:SECRETSPS_MODULE -ErrorAction Stop
$c = Get-Content -Raw -LiteralPath $ConfigFile | ConvertFrom-Json
$r = [ordered]@{ PSUICulture = "$PSUICulture" }
function Messages($records, [type] $type) { @($records | Where-Object { $_ -is $type } | ForEach-Object Message) }

try { Get-EncryptionKey -Path $c.Missing -ErrorAction Stop } catch { $r.ErrorId = $_.FullyQualifiedErrorId; $r.ErrorMessage = $_.Exception.Message }

$streams = New-EncryptionConfig -Path $c.NewKey -Verbose -LogFile $c.Log 4>&1 3>&1
$r.Verbose = @(Messages $streams ([System.Management.Automation.VerboseRecord]))
$r.Warning = @(Messages $streams ([System.Management.Automation.WarningRecord]))

'WHATIF-BEGIN'
Invoke-KeyRotation -Path $c.NewKey -WhatIf
'WHATIF-END'

$streams = Start-Reencryption -Path $c.Key -Table t -Column otp -ConnectionString $c.Database -LogFile $c.Log -Verbose `
    -ErrorAction SilentlyContinue -ErrorVariable rowErrors 4>&1 3>&1
$r.ReencryptVerbose = @(Messages $streams ([System.Management.Automation.VerboseRecord]))
$r.ReencryptWarning = @(Messages $streams ([System.Management.Automation.WarningRecord]))
$r.RowErrors = @($rowErrors | ForEach-Object { [ordered]@{ Id = $_.FullyQualifiedErrorId; Message = $_.Exception.Message } })
$r.JobErrors = @(Get-ReencryptJobError -JobId 1 -ConnectionString $c.Database | ForEach-Object { [ordered]@{ ErrorId = $_.ErrorId; Reason = $_.Reason } })
$r.JobMessage = (Start-Reencryption -Path $c.Key -Table t -Column otp -ConnectionString $c.Database -MaxRows 1 -ErrorAction SilentlyContinue -WarningVariable pausedWarnings -WarningAction SilentlyContinue).Message
$r.PausedWarning = @($pausedWarnings | ForEach-Object Message)
$r.MessageText = (Get-ReencryptJob -ConnectionString $c.Database -First 1).MessageText
'RESULT ' + ($r | ConvertTo-Json -Compress -Depth 4)
'@

    function Invoke-InCulture {
        # A key file (v1 values, then v2 active), a SQLite table with two ciphertexts and one plaintext, and the child under -Culture.
        param([string] $Culture)
        $case = Join-Path $script:folder $Culture
        $null = New-Item -ItemType Directory -Path $case -Force
        $key = New-TestKeyFile -Folder $case
        $values = 1..2 | ForEach-Object { Protect-EncryptedValue -Path $key -Value "segredo$_" }
        $null = Invoke-KeyRotation -Path $key -Force -WarningAction SilentlyContinue
        $db = New-TestDatabase -Provider Sqlite -Folder $case
        Add-TestRow -Database $db -Table t -Columns id, otp -Rows @(@(1, $values[0]), @(2, $values[1]), @(3, 'texto-claro')) `
            -BeforeSql 'CREATE TABLE t (id INTEGER PRIMARY KEY, otp TEXT)'
        $config = @{
            Missing = Join-Path $case 'missing/.env.crypto'; NewKey = Join-Path $case 'new.env'; Key = $key
            Database = $db.ConnectionString; Log = Join-Path $case 'run.log'
        }
        $scriptFile = Join-Path $case 'child.ps1'
        $configFile = Join-Path $case 'config.json'
        Set-Content -LiteralPath $scriptFile -Value $childScript -Encoding utf8
        Set-Content -LiteralPath $configFile -Value ($config | ConvertTo-Json) -Encoding utf8

        $run = Invoke-FreshPwsh -NonInteractive -TimeoutSeconds 90 -Command "& '$scriptFile' -Culture '$Culture' -ConfigFile '$configFile'"
        $lines = $run.StdOut -split "`r?`n"
        $result = $lines | Where-Object { $_ -like 'RESULT *' } | Select-Object -First 1
        if (-not $result) { throw "The $Culture child printed no RESULT.`nstdout:`n$($run.StdOut)`nstderr:`n$($run.StdErr)" }
        $begin = [array]::IndexOf($lines, 'WHATIF-BEGIN'); $end = [array]::IndexOf($lines, 'WHATIF-END')
        [pscustomobject]@{
            Result    = $result.Substring(7) | ConvertFrom-Json
            WhatIf    = @($lines[($begin + 1)..($end - 1)] | Where-Object { $_ })
            Job       = @(Invoke-TestSql -Database $db -Sql 'SELECT status, processed, skipped, errors, message FROM reencrypt_jobs')
            RowErrors = @(Invoke-TestSql -Database $db -Sql 'SELECT row_key, reason FROM reencrypt_job_errors')
            Log       = @(Get-Content -LiteralPath $config.Log)
            NewKey    = $config.NewKey
            StdErr    = $run.StdErr
        }
    }

    $script:pt = Invoke-InCulture 'pt-BR'
    $script:en = Invoke-InCulture 'en-US'
}

AfterAll {
    Remove-TestDatabaseFolder $script:folder
    Restore-KeyEnvironment $script:savedEnvironment
}

Describe 'Messages in pt-BR' {
    Context 'a fresh pwsh whose UI culture is pt-BR' {
        It '$PSUICulture reports pt-BR (and en-US in the other run)' {
            $pt.Result.PSUICulture | Should -Be 'pt-BR'
            $en.Result.PSUICulture | Should -Be 'en-US'
        }

        It 'a library error (no key file) is in Portuguese with the same FullyQualifiedErrorId' {
            $pt.Result.ErrorMessage | Should -BeLike "O arquivo de chaves '*missing*.env.crypto' indicado em -Path não existe: a pasta '*missing' também não existe. Confira o caminho."
            $en.Result.ErrorMessage | Should -BeLike "The key file '*missing*.env.crypto' given with -Path does not exist: its folder '*missing' does not exist either. Check the path."
            $pt.Result.ErrorId | Should -Be 'KeyFileNotFound,SecretsPS.Commands.GetEncryptionKeyCommand'
            $pt.Result.ErrorId | Should -Be $en.Result.ErrorId
        }

        It '-WhatIf names the action in Portuguese' {
            $pt.WhatIf | Should -HaveCount 1
            $pt.WhatIf[0] | Should -BeLike "*`"Adicionar a versão 'v2' e torná-la a versão ativa`"*$($pt.NewKey)*"
            $en.WhatIf[0] | Should -BeLike "*`"Add version 'v2' and make it the active version`"*$($en.NewKey)*"
        }

        It 'a warning and a verbose message are in Portuguese' {
            $pt.Result.Warning | Should -HaveCount 1
            $pt.Result.Warning[0] | Should -BeLike "Próximos passos: mantenha 'new.env' fora do controle de versão*"
            $en.Result.Warning[0] | Should -BeLike "Next steps: keep 'new.env' out of version control*"
            $pt.Result.Verbose | Should -Contain "'$($pt.NewKey)' criado (modo 0600) com a versão ativa 'v1'."
            $en.Result.Verbose | Should -Contain "Created '$($en.NewKey)' (mode 0600) with active version 'v1'."
        }

        It 'the re-encryption engine reports in Portuguese (its messages are made on the pipeline thread)' {
            $pt.Result.ReencryptVerbose | Should -Contain "Job 1: re-criptografando 3 valor(es) de t.otp para a versão 'v2'."
            $en.Result.ReencryptVerbose | Should -Contain "Job 1: re-encrypting 3 value(s) of t.otp to version 'v2'."
            $pt.Result.ReencryptWarning[0] | Should -BeLike 'Job 1 finished: 2 re-criptografado(s), 0 já em *v2*, 1 erro(s).*'
        }

        It 'a row error is in Portuguese with the same ErrorId' {
            $pt.Result.RowErrors | Should -HaveCount 1
            $pt.Result.RowErrors[0].Message | Should -BeLike 't.otp, linha 3: NotCiphertext:*'
            $en.Result.RowErrors[0].Message | Should -BeLike 't.otp, row 3: NotCiphertext:*'
            $pt.Result.RowErrors[0].Message | Should -Be 't.otp, linha 3: NotCiphertext: o valor não é um texto cifrado armazenado (use -EncryptPlaintext para migrar uma coluna em texto puro)'
            $en.Result.RowErrors[0].Message | Should -Be 't.otp, row 3: NotCiphertext: the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)'
            $pt.Result.RowErrors[0].Id | Should -Be 'NotCiphertext,SecretsPS.Commands.StartReencryptionCommand'
            $pt.Result.RowErrors[0].Id | Should -Be $en.Result.RowErrors[0].Id
        }
    }

    Context 'reasons and job messages are stored in English and shown in the session''s language' {
        It 'Get-ReencryptJobError shows the stored reason in Portuguese, with the same ErrorId' {
            $pt.Result.JobErrors | Should -HaveCount 1
            $pt.Result.JobErrors[0].ErrorId | Should -Be 'NotCiphertext'
            $pt.Result.JobErrors[0].Reason | Should -Be 'o valor não é um texto cifrado armazenado (use -EncryptPlaintext para migrar uma coluna em texto puro)'
            $en.Result.JobErrors[0].Reason | Should -Be 'the value is not a stored ciphertext (use -EncryptPlaintext to migrate a plaintext column)'
        }

        It 'the job summary translates the stored message: no English inside a Portuguese line' {
            $pt.Result.ReencryptWarning[0] | Should -BeLike '*completo com 1 erro(s) de linha; contado no fim: v2=2, (não cifrado)=1*'
            $pt.Result.ReencryptWarning[0] | Should -Not -Match 'complete with|row error|counted|not ciphertext'
            $en.Result.ReencryptWarning[0] | Should -BeLike '*complete with 1 row error(s); counted at finish: v2=2*'
        }

        It 'a run stopped by -MaxRows says so in Portuguese, and the job row keeps the English text' {
            $pt.Result.JobMessage | Should -Be '-MaxRows 1 reached; continue with -Resume'
            $pt.Result.PausedWarning -join "`n" | Should -BeLike '*-MaxRows 1 atingido; continue com -Resume*'
            $pt.Result.PausedWarning -join "`n" | Should -Not -Match 'reached'
            $pt.Result.MessageText | Should -Be '-MaxRows 1 atingido; continue com -Resume'
            $en.Result.MessageText | Should -Be '-MaxRows 1 reached; continue with -Resume'
        }
    }

    Context 'what machines read stays the same in every language' {
        It 'the job table and its error table hold the same text under pt-BR as under en-US' {
            $pt.Job | Should -HaveCount 2
            $pt.Job | Should -Be $en.Job
            $pt.RowErrors | Should -HaveCount 1
            $pt.RowErrors | Should -Be $en.RowErrors
        }

        It 'every log line keeps the FORMATS.md layout, and the two runs log the same loggers and levels in the same order' {
            foreach ($line in $pt.Log + $en.Log) { $line | Should -Match $linePattern }
            $shape = { param($log) $log | ForEach-Object { if ($_ -match $linePattern) { "$($Matches[1]) $($Matches[2])" } } }
            (& $shape $pt.Log) -join "`n" | Should -Be ((& $shape $en.Log) -join "`n")
            @($pt.Log | Where-Object { $_ -like '* - INFO - Start-Reencryption started' }) | Should -HaveCount 1
        }
    }
}
