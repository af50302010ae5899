using ScheduledPosts.Gateway.Dialects;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.Gateway.ApiKeys;

/// <summary>What a new key may be, and who may mint or revoke which key. Pure: no database, no HTTP.</summary>
public static class ApiKeyRules
{
    public const int MaxNameLength = 100;

    /// <summary>A key as asked for, checked: a trimmed name, a known role, and scopes within that role.</summary>
    public sealed record NewKey(string Name, string Role, IReadOnlyList<string> Scopes);

    /// <summary>422 with every broken rule located, or the key to mint. Without scopes a key gets its role's bundle.</summary>
    public static NewKey Validate(string? name, string? role, IReadOnlyList<string?>? scopes)
    {
        var issues = new List<ValidationIssue>();
        string trimmedName = name?.Trim() ?? "";
        if (trimmedName.Length == 0)
        {
            issues.Add(new("name", "name is required."));
        }
        else if (trimmedName.Length > MaxNameLength || trimmedName.Any(char.IsControl))
        {
            issues.Add(new("name", $"name must be at most {MaxNameLength} characters, without control characters."));
        }

        var roleScopes = role is null ? [] : Roles.ScopesOf(role);
        if (roleScopes.Count == 0)
        {
            issues.Add(new("role", "role must be one of owner, admin, editor, viewer."));
        }

        List<string> granted = [];
        if (scopes is null)
        {
            granted.AddRange(roleScopes);
        }
        else if (scopes.Count == 0)
        {
            issues.Add(new("scopes", "scopes, when given, must name at least one scope."));
        }
        else
        {
            for (int i = 0; i < scopes.Count; i++)
            {
                string? scope = scopes[i] is { } named ? ScopeAliases.Canonical(named) : null;
                if (scope is null || !Scopes.All.Contains(scope))
                {
                    issues.Add(new($"scopes[{i}]", $"Unknown scope; the scopes are {string.Join(", ", Scopes.All)} (and {ScopeAliases.LayersPublishWrite} for {Scopes.PostsWrite})."));
                }
                else if (roleScopes.Count > 0 && !roleScopes.Contains(scope))
                {
                    issues.Add(new($"scopes[{i}]", $"The {role} role does not include {scope}."));
                }
                else if (!granted.Contains(scope))
                {
                    granted.Add(scope);
                }
            }
        }

        if (issues.Count > 0)
        {
            throw ApiException.Validation(issues);
        }

        return new NewKey(trimmedName, role!, granted);
    }

    /// <summary>
    /// A key never mints a key that can do more than itself, and only an owner key mints an owner key (admins
    /// manage everything else): 403 otherwise.
    /// </summary>
    public static void EnsureMayMint(ApiKeyCaller caller, NewKey key)
    {
        if (key.Role == Roles.Owner && caller.Role != Roles.Owner)
        {
            throw ApiException.Forbidden("Only an owner key can mint an owner key.");
        }

        var missing = key.Scopes.Where(s => !caller.HasScope(s)).ToList();
        if (missing.Count > 0)
        {
            throw ApiException.Forbidden($"A key cannot grant scopes it does not hold itself: {string.Join(", ", missing)}.");
        }
    }

    /// <summary>Only an owner key revokes an owner key.</summary>
    public static void EnsureMayRevoke(ApiKeyCaller caller, string targetRole)
    {
        if (targetRole == Roles.Owner && caller.Role != Roles.Owner)
        {
            throw ApiException.Forbidden("Only an owner key can revoke an owner key.");
        }
    }
}
