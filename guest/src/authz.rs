//! Whether a caller may read users of an organization: which of its memberships apply
//! there, and which roles grant `user.read` in ZITADEL's default role mapping.

use crate::{MemberScope, Membership};

/// Roles and whether each grants `user.read`, as ZITADEL's default mapping
/// (`InternalAuthZ.RolePermissionMappings`) has them. A role not listed grants nothing.
pub const ROLES: &[(&str, bool)] = &[
    // Instance roles.
    ("IAM_OWNER", true),
    ("IAM_OWNER_VIEWER", true),
    ("IAM_ORG_MANAGER", true),
    ("IAM_USER_MANAGER", true),
    ("IAM_LOGIN_CLIENT", true),
    // Organization roles.
    ("ORG_OWNER", true),
    ("ORG_USER_MANAGER", true),
    ("ORG_OWNER_VIEWER", true),
    ("ORG_USER_PERMISSION_EDITOR", true),
    ("ORG_PROJECT_PERMISSION_EDITOR", true),
    ("ORG_PROJECT_CREATOR", false),
    // Project roles.
    ("PROJECT_OWNER", true),
    ("PROJECT_OWNER_VIEWER", true),
    ("PROJECT_GRANT_OWNER", true),
    ("PROJECT_GRANT_OWNER_VIEWER", true),
    // These hold `user.global.read` only.
    ("PROJECT_OWNER_GLOBAL", false),
    ("PROJECT_OWNER_VIEWER_GLOBAL", false),
];

/// What the caller's memberships allow in one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No membership applies to the organization.
    NoMembership,
    /// Memberships apply, but none of their roles grants `user.read`.
    NoPermission,
    /// A membership that applies holds a role granting `user.read`.
    UserRead,
}

/// Evaluates `memberships` for organization `org`.
pub fn user_read_access(memberships: &[Membership], org: &str) -> Access {
    let mut applying = memberships
        .iter()
        .filter(|m| applies_to(&m.scope, org))
        .peekable();
    if applying.peek().is_none() {
        return Access::NoMembership;
    }
    let grants = |role: &alloc::string::String| {
        ROLES
            .iter()
            .any(|&(name, user_read)| user_read && name == role)
    };
    if applying.any(|m| m.roles.iter().any(grants)) {
        Access::UserRead
    } else {
        Access::NoPermission
    }
}

/// Whether a membership granted in `scope` applies to organization `org`.
fn applies_to(scope: &MemberScope, org: &str) -> bool {
    match scope {
        MemberScope::Instance => true,
        MemberScope::Org(id) => id == org,
        MemberScope::Project(p) => p.owner_org_id == org,
        MemberScope::ProjectGrant(g) => g.owner_org_id == org || g.granted_org_id == org,
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;
    use crate::{ProjectGrantMembership, ProjectMembership};

    fn member(scope: MemberScope, role: &str) -> Membership {
        Membership {
            scope,
            roles: vec![role.to_string()],
        }
    }

    fn grant(owner: &str, granted: &str) -> MemberScope {
        MemberScope::ProjectGrant(ProjectGrantMembership {
            project_id: "p".to_string(),
            grant_id: "g".to_string(),
            owner_org_id: owner.to_string(),
            granted_org_id: granted.to_string(),
        })
    }

    #[test]
    fn instance_membership_applies_to_every_organization() {
        let m = [member(MemberScope::Instance, "IAM_OWNER_VIEWER")];
        assert_eq!(user_read_access(&m, "any"), Access::UserRead);
    }

    #[test]
    fn organization_membership_applies_only_to_its_organization() {
        let m = [member(MemberScope::Org("a".to_string()), "ORG_OWNER")];
        assert_eq!(user_read_access(&m, "a"), Access::UserRead);
        assert_eq!(user_read_access(&m, "b"), Access::NoMembership);
    }

    #[test]
    fn project_membership_applies_to_the_owner_organization() {
        let scope = MemberScope::Project(ProjectMembership {
            project_id: "p".to_string(),
            owner_org_id: "a".to_string(),
        });
        let m = [member(scope, "PROJECT_OWNER")];
        assert_eq!(user_read_access(&m, "a"), Access::UserRead);
        assert_eq!(user_read_access(&m, "b"), Access::NoMembership);
    }

    #[test]
    fn project_grant_membership_applies_to_owner_and_granted_organization() {
        let m = [member(grant("a", "b"), "PROJECT_GRANT_OWNER")];
        assert_eq!(user_read_access(&m, "a"), Access::UserRead);
        assert_eq!(user_read_access(&m, "b"), Access::UserRead);
        assert_eq!(user_read_access(&m, "c"), Access::NoMembership);
    }

    #[test]
    fn global_and_unknown_roles_grant_nothing() {
        for role in [
            "PROJECT_OWNER_GLOBAL",
            "ORG_PROJECT_CREATOR",
            "SUPER_USER",
            "org_owner",
        ] {
            let m = [member(MemberScope::Instance, role)];
            assert_eq!(user_read_access(&m, "a"), Access::NoPermission, "{role}");
        }
    }

    #[test]
    fn a_granting_role_in_a_membership_of_another_organization_does_not_count() {
        let m = [
            member(MemberScope::Org("a".to_string()), "ORG_PROJECT_CREATOR"),
            member(MemberScope::Org("b".to_string()), "ORG_OWNER"),
        ];
        assert_eq!(user_read_access(&m, "a"), Access::NoPermission);
    }
}
