#Requires -Version 7.4
<#
    Cmdlet help in pt-BR: build.ps1 makes out/SecretsPS/pt-BR/SecretsPS.dll-Help.xml from the translated pages in
    docs/cmdlets/pt-BR and, for every cmdlet not translated yet, its English page. A translated page is checked against
    the code through its English page (which Help.Tests.ps1 checks against the code): the same syntax, the same
    parameters with the same attribute blocks, as many examples; only the prose (and the examples' words) is translated.
#>

BeforeDiscovery {
    $script:translated = @(
        Get-ChildItem -Path (Join-Path $PSScriptRoot '../../docs/cmdlets/pt-BR') -Filter '*.md' -File -ErrorAction SilentlyContinue |
            Sort-Object Name | ForEach-Object { @{ Name = $_.BaseName } }
    )
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:docs = Join-Path $PSScriptRoot '../../docs/cmdlets'
    $script:module = Get-SecretsPSModulePath

    function Get-PageParts {
        # The parts of a page that must not change in translation, and its synopsis.
        param([string] $Path)
        $text = (Get-Content -LiteralPath $Path -Raw) -replace "`r`n", "`n"
        $syntax = $text.Substring($text.IndexOf('## SYNTAX'), $text.IndexOf('## DESCRIPTION') - $text.IndexOf('## SYNTAX'))
        [pscustomobject]@{
            Synopsis   = ($text -split '## SYNOPSIS\n', 2)[1].Split("`n")[0]
            Sections   = @([regex]::Matches($text, '(?m)^## .+$') | ForEach-Object Value)
            Parameters = @([regex]::Matches($text, '(?m)^### -\S+$') | ForEach-Object Value)
            Examples   = @([regex]::Matches($text, '(?m)^### Example \d+') | ForEach-Object Value)
            Yaml       = @([regex]::Matches($text, '(?s)```yaml\n.*?```') | ForEach-Object Value)
            Code       = @([regex]::Matches($text, '(?s)```powershell\n.*?```') | ForEach-Object Value)
            Syntax     = $syntax
            Inputs     = @([regex]::Matches(($text -split '## INPUTS', 2)[1], '(?m)^### \S+$') | ForEach-Object Value)
        }
    }
}

Describe 'The pt-BR page of <Name>' -ForEach $translated {
    BeforeAll {
        $english = Get-PageParts (Join-Path $docs "$Name.md")
        $portuguese = Get-PageParts (Join-Path $docs "pt-BR/$Name.md")
    }

    It 'translates an English page of the same cmdlet' {
        Join-Path $docs "$Name.md" | Should -Exist
        $portuguese.Synopsis | Should -Not -Be $english.Synopsis
        $portuguese.Synopsis | Should -Not -BeNullOrEmpty
    }

    It 'has the same sections, parameters, examples and inputs as the English page' {
        $portuguese.Sections | Should -Be $english.Sections
        $portuguese.Parameters | Should -Be $english.Parameters
        $portuguese.Examples | Should -Be $english.Examples
        $portuguese.Inputs | Should -Be $english.Inputs
    }

    It 'keeps the syntax and every parameter''s attributes as the English page has them (checked against the code)' {
        $portuguese.Syntax | Should -Be $english.Syntax
        $portuguese.Yaml | Should -Be $english.Yaml
    }

    It 'has as many examples with code as the English page' {
        $portuguese.Code.Count | Should -Be $english.Code.Count
    }
}

Describe 'Get-Help in a pt-BR session' {
    BeforeAll {
        $names = @($translated | ForEach-Object { $_.Name })
        $probe = @'
param([string] $Translated)
[System.Globalization.CultureInfo]::CurrentUICulture = 'pt-BR'
Import-Module $env:SECRETSPS_MODULE -ErrorAction Stop
$r = foreach ($c in Get-Command -Module SecretsPS) {
    $h = Get-Help $c.Name -Full
    [ordered]@{ Name = $c.Name; Synopsis = "$($h.Synopsis)".Trim(); Examples = @($h.examples.example).Count
        FirstParameter = "$(@($h.parameters.parameter)[0].description.Text)".Trim() }
}
'RESULT ' + (ConvertTo-Json @($r) -Compress -Depth 4)
'@
        $file = Join-Path ([IO.Path]::GetTempPath()) ('help-pt-' + [guid]::NewGuid().ToString('N') + '.ps1')
        Set-Content -LiteralPath $file -Value $probe -Encoding utf8
        try { $run = Invoke-FreshPwsh -NonInteractive -File $file -TimeoutSeconds 120 }
        finally { Remove-Item -LiteralPath $file -Force }
        $line = $run.StdOut -split "`r?`n" | Where-Object { $_ -like 'RESULT *' } | Select-Object -First 1
        if (-not $line) { throw "No RESULT.`n$($run.StdOut)`n$($run.StdErr)" }
        $script:help = @($line.Substring(7) | ConvertFrom-Json)
        $script:names = $names
    }

    It 'the module ships pt-BR help beside the en-US help' {
        Join-Path (Split-Path $module) 'pt-BR/SecretsPS.dll-Help.xml' | Should -Exist
        Join-Path (Split-Path $module) 'en-US/SecretsPS.dll-Help.xml' | Should -Exist
    }

    It 'a translated cmdlet shows its Portuguese synopsis and parameter descriptions' {
        foreach ($name in $names) {
            $h = $help | Where-Object Name -EQ $name
            $h.Synopsis | Should -Be (Get-PageParts (Join-Path $docs "pt-BR/$name.md")).Synopsis
        }
        ($help | Where-Object Name -EQ 'Get-ReencryptJobError').FirstParameter | Should -BeLike 'Um token para entrar*'
    }

    It 'every cmdlet the module exports has a pt-BR page (a new cmdlet comes with its translation)' {
        @($help | Where-Object Name -NotIn $names | ForEach-Object Name) | Should -BeNullOrEmpty
    }

    It 'every other cmdlet falls back to its complete English help' {
        foreach ($h in $help | Where-Object Name -NotIn $names) {
            $h.Synopsis | Should -Be (Get-PageParts (Join-Path $docs "$($h.Name).md")).Synopsis -Because $h.Name
            $h.Examples | Should -BeGreaterOrEqual 2 -Because $h.Name
        }
    }
}
