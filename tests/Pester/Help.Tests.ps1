# Every exported cmdlet has complete help: a page in docs/cmdlets (PlatyPS layout), and in Get-Help (the MAML
# that build.ps1 makes from those pages with tools/Convert-MarkdownToMaml.ps1) a written synopsis, a
# description, at least two examples with code, and a description for every parameter the cmdlet really has,
# with the attributes its C# declares. Adding a cmdlet or a parameter without documenting it fails here, and so
# does changing a parameter (mandatory, position, pipeline input, wildcards, type, aliases, parameter sets)
# without updating its page.

BeforeDiscovery {
    $modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    Import-Module $modulePath
    # Common parameters are documented by PowerShell itself; -WhatIf and -Confirm are the cmdlet's to document.
    $common = [System.Management.Automation.Cmdlet]::CommonParameters
    $script:cmdlets = @(
        Get-Command -Module SecretsPS | Sort-Object Name | ForEach-Object {
            @{
                Name       = $_.Name
                # A hidden parameter (DontShow) is no way to give input: Get-Help and tab completion leave it out, and so do the pages.
                Parameters = @($_.Parameters.Values | Where-Object { $_.Name -notin $common -and -not ($_.Attributes | Where-Object DontShow) } | ForEach-Object Name | Sort-Object)
                HasPage    = Test-Path (Join-Path $PSScriptRoot "../../docs/cmdlets/$($_.Name).md")
            }
        }
    )
    $script:pages = @(
        Get-ChildItem -Path (Join-Path $PSScriptRoot '../../docs/cmdlets') -Filter '*.md' -File -ErrorAction SilentlyContinue |
            Where-Object BaseName -NotLike 'about_*' | Sort-Object Name | ForEach-Object { @{ Page = $_.Name; Name = $_.BaseName } }
    )
}

BeforeAll {
    $script:modulePath = if ($env:SECRETSPS_MODULE) { $env:SECRETSPS_MODULE } else { Join-Path $PSScriptRoot '../../out/SecretsPS/SecretsPS.psd1' }
    Import-Module $modulePath
    $script:docs = Join-Path $PSScriptRoot '../../docs/cmdlets'
    $script:converter = Join-Path $PSScriptRoot '../../tools/Convert-MarkdownToMaml.ps1'
    $script:common = [System.Management.Automation.Cmdlet]::CommonParameters
    $script:exported = @(Get-Command -Module SecretsPS | ForEach-Object Name)

    # The help shipped is en-US (the pt-BR folder holds about topics only): read it whatever this machine's language.
    $script:savedUICulture = [System.Globalization.CultureInfo]::CurrentUICulture
    [System.Globalization.CultureInfo]::CurrentUICulture = [System.Globalization.CultureInfo]::GetCultureInfo('en-US')

    function Get-HelpText {
        # The text of a help description: an array of objects with a Text property, or a string.
        param($Value)
        (@($Value | ForEach-Object { if ($_ -is [string]) { $_ } elseif ($null -ne $_) { $_.Text } }) -join "`n").Trim()
    }

    function Get-ExpectedPosition {
        param([int] $Position)
        if ($Position -eq [int]::MinValue) { 'named' } else { [string]$Position }
    }

    function Get-TypeNames {
        # The names a page may give a parameter's type: String[], System.String[], Int32 for Nullable[Int32]...
        param([type] $Type)
        $names = [Collections.Generic.List[string]]::new()
        $names.Add($Type.Name); $names.Add($Type.FullName)
        $underlying = [Nullable]::GetUnderlyingType($Type)
        if ($underlying) { $names.Add($underlying.Name); $names.Add($underlying.FullName) }
        if ($Type -eq [System.Management.Automation.SwitchParameter]) { $names.Add('SwitchParameter') }
        $names
    }

    function Split-Aliases {
        param([string] $Text)
        @(if ($Text -and $Text -ne 'none') { $Text -split ',' | ForEach-Object Trim | Where-Object { $_ } }) | Sort-Object
    }
}

AfterAll {
    [System.Globalization.CultureInfo]::CurrentUICulture = $savedUICulture
}

Describe 'Help of <Name>' -ForEach $cmdlets {
    BeforeAll {
        $command = Get-Command -Name $Name -Module SecretsPS
        $help = Get-Help -Name $Name -Full
        $helpParameters = @($help.parameters.parameter | Where-Object { $_ })
        $page = Join-Path $docs "$Name.md"
    }

    It 'has the page docs/cmdlets/<Name>.md' {
        $page | Should -Exist -Because "every exported cmdlet is documented in docs/cmdlets (PlatyPS layout); build.ps1 turns the pages into Get-Help's MAML"
        Get-Content -Raw $page | Should -Match "(?m)^# $([regex]::Escape($Name))\s*$" -Because 'the page title is the cmdlet name'
    }

    It 'has a written synopsis, not the syntax PowerShell generates when help is missing' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        $synopsis | Should -Not -BeLike "$Name*" -Because 'without a help page Get-Help shows the syntax as the synopsis'
        $synopsis | Should -Not -Match '\{\{' -Because 'PlatyPS placeholders must be replaced'
    }

    It 'has a description' {
        $description = Get-HelpText $help.description
        $description | Should -Not -BeNullOrEmpty
        $description | Should -Not -Match '\{\{'
    }

    It 'has at least two examples, each with code and an explanation' {
        $examples = @($help.examples.example | Where-Object { $_ })
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($example in $examples) {
            "$($example.code)".Trim() | Should -Not -BeNullOrEmpty -Because "example '$($example.title)' needs code"
            "$($example.code)" | Should -Match ([regex]::Escape($Name)) -Because "example '$($example.title)' should use $Name"
            Get-HelpText $example.remarks | Should -Not -BeNullOrEmpty -Because "example '$($example.title)' needs a paragraph that explains it"
        }
    }

    It 'describes the parameter -<_>' -ForEach $Parameters {
        $documented = @($helpParameters | Where-Object name -EQ $_)
        $documented.Count | Should -Be 1 -Because "-$_ of $Name needs a '### -$_' section in docs/cmdlets/$Name.md"
        $text = Get-HelpText $documented[0].description
        $text | Should -Not -BeNullOrEmpty -Because "-$_ of $Name needs a description"
        $text | Should -Not -Match '\{\{'
    }

    # Without a page Get-Help makes help up from the code: comparing that with the code proves nothing,
    # and the failures above already say what is missing.
    if ($HasPage) {
        It 'documents -<_> as the code declares it (required, position, pipeline input, wildcards, type, aliases)' -ForEach $Parameters {
            $parameter = $command.Parameters[$_]
            $documented = @($helpParameters | Where-Object name -EQ $_)
            $documented.Count | Should -Be 1 -Because "-$_ is not documented"
            $doc = $documented[0]
            $sets = @($parameter.ParameterSets.Values)

            # Required and position can differ between parameter sets; the syntax test checks those per set.
            $required = @($sets | ForEach-Object IsMandatory | Sort-Object -Unique)
            if ($required.Count -eq 1) { "$($doc.required)" | Should -Be ([string]$required[0]).ToLowerInvariant() -Because "'Required:' of -$_" }
            $positions = @($sets | ForEach-Object { Get-ExpectedPosition $_.Position } | Sort-Object -Unique)
            if ($positions.Count -eq 1) { "$($doc.position)" | Should -Be $positions[0] -Because "'Position:' of -$_" }

            $byValue = [bool]($sets | Where-Object ValueFromPipeline)
            $byName = [bool]($sets | Where-Object ValueFromPipelineByPropertyName)
            $pipeline = "$($doc.pipelineInput)"
            $pipeline -match '^\s*True' | Should -Be ($byValue -or $byName) -Because "'Accept pipeline input:' of -$_ is '$pipeline'"
            $pipeline -match 'ByValue' | Should -Be $byValue -Because "'Accept pipeline input:' of -$_ is '$pipeline'"
            $pipeline -match 'ByPropertyName' | Should -Be $byName -Because "'Accept pipeline input:' of -$_ is '$pipeline'"

            $wildcards = [bool]($parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            "$($doc.globbing)" | Should -Be ([string]$wildcards).ToLowerInvariant() -Because "'Accept wildcard characters:' of -$_"

            "$($doc.type.name)" | Should -BeIn @(Get-TypeNames $parameter.ParameterType) -Because "'Type:' of -$_"

            $aliases = @(Split-Aliases "$($doc.aliases)")
            ($aliases -join ', ') | Should -Be ((@($parameter.Aliases) | Sort-Object) -join ', ') -Because "'Aliases:' of -$_"

            $validateSet = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
            if ($validateSet) {
                $accepted = @($doc.parameterValueGroup.parameterValue | ForEach-Object { if ($_ -is [string]) { $_ } else { $_.'#text' } })
                ($accepted | Sort-Object) -join ', ' | Should -Be (($validateSet.ValidValues | Sort-Object) -join ', ') -Because "'Accepted values:' of -$_"
            }
        }

        It 'documents no parameter that the cmdlet does not have' {
            $stale = @($helpParameters | ForEach-Object name | Where-Object { -not $command.Parameters.ContainsKey($_) })
            $stale | Should -BeNullOrEmpty -Because "docs/cmdlets/$Name.md documents parameters that $Name no longer has"
        }

        It 'has one syntax block per parameter set, with its parameters, required and positions' {
            $items = @($help.syntax.syntaxItem | Where-Object { $_ })
            $items.Count | Should -Be $command.ParameterSets.Count -Because "$Name has $($command.ParameterSets.Count) parameter set(s)"
            foreach ($set in $command.ParameterSets) {
                $expected = @($set.Parameters | Where-Object { $_.Name -notin $common -and -not ($_.Attributes | Where-Object DontShow) })
                $names = ($expected.Name | Sort-Object) -join ' '
                $match = @($items | Where-Object { (@($_.parameter | ForEach-Object name) | Sort-Object) -join ' ' -eq $names })
                $match.Count | Should -BeGreaterThan 0 -Because "no syntax block lists exactly the parameters of the set '$($set.Name)': $names"
                foreach ($p in $expected) {
                    $doc = @($match[0].parameter | Where-Object name -EQ $p.Name)[0]
                    "$($doc.required)" | Should -Be ([string]$p.IsMandatory).ToLowerInvariant() -Because "-$($p.Name) in the set '$($set.Name)'"
                    "$($doc.position)" | Should -Be (Get-ExpectedPosition $p.Position) -Because "-$($p.Name) in the set '$($set.Name)'"
                }
            }
        }

        It 'names every type the cmdlet declares as output' {
            $documented = @($help.returnValues.returnValue | ForEach-Object { "$($_.type.name)".Trim() })
            foreach ($type in $command.OutputType) {
                $short = $type.Name.Split('.')[-1]
                ($documented -contains $type.Name -or $documented -contains $short) |
                    Should -BeTrue -Because "[OutputType] declares $($type.Name); '## OUTPUTS' lists: $($documented -join ', ')"
            }
        }
    }
}

Describe 'Page <Page>' -ForEach $pages {
    It 'documents an exported cmdlet' {
        $Name | Should -BeIn $exported -Because "docs/cmdlets/$Page documents a cmdlet the module does not export (renamed or removed?)"
    }

    It 'has the PlatyPS front matter and sections' {
        $text = Get-Content -Raw (Join-Path $docs $Page)
        $text | Should -Match '(?s)\A---\s*\n.*external help file:\s*SecretsPS\.dll-Help\.xml.*\n---'
        $text | Should -Match '(?m)^Module Name:\s*SecretsPS\s*$'
        $text | Should -Match '(?m)^schema:\s*2\.0\.0\s*$'
        $headings = [regex]::Matches($text, '(?m)^## (.+?)\s*$') | ForEach-Object { $_.Groups[1].Value }
        $headings | Should -Be @('SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS')
        $text | Should -Match '(?m)^### CommonParameters\s*$'
    }
}

Describe 'Convert-MarkdownToMaml' {
    BeforeAll {
        $source = Join-Path $TestDrive 'pages'
        New-Item -ItemType Directory -Path $source | Out-Null
        $fence = '```'
        @"
---
external help file: SecretsPS.dll-Help.xml
Module Name: SecretsPS
online version: https://example.com/Get-Thing
schema: 2.0.0
---

# Get-Thing

## SYNOPSIS
Gets things & <stuff>.

## SYNTAX

### ByName (Default)
$fence
Get-Thing [[-Name] <String[]>] [-Kind <String>] [<CommonParameters>]
$fence

### ById
$fence
Get-Thing -Id <Int64> [-Kind <String>] [<CommonParameters>]
$fence

## DESCRIPTION
First paragraph
continues here.

- an item
- another item

## EXAMPLES

### Example 1: Get a thing
${fence}powershell
Get-Thing -Name 'a' | Where-Object { `$_.Size -gt 1 }
$fence

Gets a thing whose size is > 1.

### Example 2: Get by id
${fence}powershell
Get-Thing -Id 42
$fence

${fence}Output
Id Name
-- ----
42 a
$fence

Gets thing 42.

## PARAMETERS

### -Id
The id.

${fence}yaml
Type: Int64
Parameter Sets: ById
Aliases:

Required: True
Position: Named
Default value: None
Accept pipeline input: True (ByPropertyName)
Accept wildcard characters: False
$fence

### -Kind
The kind.

${fence}yaml
Type: String
Parameter Sets: (All)
Aliases: Type
Accepted values: Small, Large

Required: False
Position: Named
Default value: Small
Accept pipeline input: False
Accept wildcard characters: False
$fence

### -Name
The names.

${fence}yaml
Type: String[]
Parameter Sets: ByName
Aliases:

Required: False
Position: 0
Default value: None
Accept pipeline input: True (ByValue)
Accept wildcard characters: True
$fence

### CommonParameters
This cmdlet supports the common parameters.

## INPUTS

### System.String[]
Names.

## OUTPUTS

### Thing
A thing.

## NOTES
Replaces ``flask things``.

## RELATED LINKS

[Online docs](https://example.com/Get-Thing)

[Set-Thing](Set-Thing.md)
"@ | Set-Content -Path (Join-Path $source 'Get-Thing.md')
        $output = Join-Path $TestDrive 'en-US/Test.dll-Help.xml'
        & $converter -SourceFolder $source -OutputPath $output -WarningAction SilentlyContinue
        [xml] $maml = Get-Content -Raw $output
        $ns = [System.Xml.XmlNamespaceManager]::new($maml.NameTable)
        $ns.AddNamespace('msh', 'http://msh')
        $ns.AddNamespace('maml', 'http://schemas.microsoft.com/maml/2004/10')
        $ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
        $ns.AddNamespace('dev', 'http://schemas.microsoft.com/maml/dev/2004/10')
        $command = $maml.SelectSingleNode('/msh:helpItems/command:command', $ns)
    }

    It 'writes a MAML helpItems document with the command' {
        $maml.DocumentElement.LocalName | Should -Be 'helpItems'
        $maml.DocumentElement.GetAttribute('schema') | Should -Be 'maml'
        $command.SelectSingleNode('command:details/command:name', $ns).InnerText | Should -Be 'Get-Thing'
        $command.SelectSingleNode('command:details/command:verb', $ns).InnerText | Should -Be 'Get'
        $command.SelectSingleNode('command:details/command:noun', $ns).InnerText | Should -Be 'Thing'
    }

    It 'keeps special characters as text' {
        $command.SelectSingleNode('command:details/maml:description/maml:para', $ns).InnerText | Should -Be 'Gets things & <stuff>.'
        $command.SelectSingleNode('command:examples/command:example[1]/dev:code', $ns).InnerText | Should -Be "Get-Thing -Name 'a' | Where-Object { `$_.Size -gt 1 }"
    }

    It 'joins paragraph lines and keeps list items apart' {
        $paras = @($command.SelectNodes('maml:description/maml:para', $ns) | ForEach-Object InnerText)
        $paras | Should -Be @('First paragraph continues here.', '- an item', '- another item')
    }

    It 'writes one syntax item per parameter set, with that set''s parameters in order' {
        $items = @($command.SelectNodes('command:syntax/command:syntaxItem', $ns))
        $items.Count | Should -Be 2
        @($items[0].SelectNodes('command:parameter/maml:name', $ns) | ForEach-Object InnerText) | Should -Be @('Name', 'Kind')
        @($items[1].SelectNodes('command:parameter/maml:name', $ns) | ForEach-Object InnerText) | Should -Be @('Id', 'Kind')
        $name = $items[0].SelectSingleNode('command:parameter[maml:name="Name"]', $ns)
        $name.GetAttribute('position') | Should -Be '0'
        $name.GetAttribute('globbing') | Should -Be 'true'
        $name.GetAttribute('pipelineInput') | Should -Be 'True (ByValue)'
        $items[1].SelectSingleNode('command:parameter[maml:name="Id"]', $ns).GetAttribute('required') | Should -Be 'true'
    }

    It 'writes each parameter with its attributes, type, default and accepted values' {
        $kind = $command.SelectSingleNode('command:parameters/command:parameter[maml:name="Kind"]', $ns)
        $kind.GetAttribute('aliases') | Should -Be 'Type'
        $kind.GetAttribute('position') | Should -Be 'named'
        $kind.SelectSingleNode('dev:type/maml:name', $ns).InnerText | Should -Be 'String'
        $kind.SelectSingleNode('dev:defaultValue', $ns).InnerText | Should -Be 'Small'
        @($kind.SelectNodes('command:parameterValueGroup/command:parameterValue', $ns) | ForEach-Object InnerText) | Should -Be @('Small', 'Large')
        $kind.SelectSingleNode('maml:description/maml:para', $ns).InnerText | Should -Be 'The kind.'
    }

    It 'keeps an example''s sample output out of its code, in the remarks before the explanation, as PlatyPS does' {
        $command.SelectSingleNode('command:examples/command:example[2]/dev:code', $ns).InnerText | Should -Be 'Get-Thing -Id 42'
        $remarks = @($command.SelectNodes('command:examples/command:example[2]/dev:remarks/maml:para', $ns) | ForEach-Object InnerText)
        $remarks[0] | Should -Be "Id Name`n-- ----`n42 a"
        $remarks[1] | Should -Be 'Gets thing 42.'
    }

    It 'writes inputs, outputs, notes, examples and related links' {
        $command.SelectSingleNode('command:inputTypes/command:inputType/dev:type/maml:name', $ns).InnerText | Should -Be 'System.String[]'
        $command.SelectSingleNode('command:returnValues/command:returnValue/dev:type/maml:name', $ns).InnerText | Should -Be 'Thing'
        $command.SelectSingleNode('maml:alertSet/maml:alert/maml:para', $ns).InnerText | Should -Be 'Replaces `flask things`.'
        @($command.SelectNodes('command:examples/command:example', $ns)).Count | Should -Be 2
        $command.SelectSingleNode('command:examples/command:example[2]/maml:title', $ns).InnerText | Should -Match 'Example 2: Get by id'
        $links = @($command.SelectNodes('command:relatedLinks/maml:navigationLink', $ns))
        @($links | ForEach-Object { $_.SelectSingleNode('maml:linkText', $ns).InnerText }) | Should -Be @('Online Version:', 'Online docs', 'Set-Thing')
        $links[0].SelectSingleNode('maml:uri', $ns).InnerText | Should -Be 'https://example.com/Get-Thing'
        $links[2].SelectSingleNode('maml:uri', $ns).InnerText | Should -Be ''
    }

    It 'stops on a syntax line that names an undocumented parameter' {
        $bad = Join-Path $TestDrive 'bad'
        New-Item -ItemType Directory -Path $bad | Out-Null
        (Get-Content -Raw (Join-Path $source 'Get-Thing.md')) -replace '\[-Kind <String>\] \[<CommonParameters>\]\r?\n```\r?\n\r?\n### ById', '[-Kind <String>] [-Extra] [<CommonParameters>]
```

### ById' | Set-Content -Path (Join-Path $bad 'Get-Thing.md')
        { & $converter -SourceFolder $bad -OutputPath (Join-Path $TestDrive 'bad.xml') -WarningAction SilentlyContinue } |
            Should -Throw -ExpectedMessage '*-Extra*'
    }
}
